"""ONNX Runtime sessions as every node builds them.

Each node is its own process with its own thread pool; on a 2-core box two
pools that spin while waiting for work steal the other node's core. So
sessions get a fixed intra-op thread count, one inter-op thread, and no
spin-waiting (measured: docs/measurements.md, "ONNX Runtime threads").
"""
from __future__ import annotations

from pathlib import Path


def session_options(threads: int, spinning: bool = False):
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        options.add_session_config_entry('session.inter_op.allow_spinning', '0')
    return options


def open_session(path: Path, threads: int, error: type[Exception], providers=None, spinning: bool = False):
    """An InferenceSession, or ``error`` with one line that names the file."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise error(f'onnxruntime is not installed: {exc}') from None
    if not Path(path).is_file():
        raise error(f'model file not found: {path}')
    available = ort.get_available_providers()
    providers = [p for p in (providers or ['CPUExecutionProvider']) if p in available]
    try:
        return ort.InferenceSession(str(path), session_options(threads, spinning), providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise error(f'cannot load model {path}: {exc}') from None
