"""YOLOv8 detector on ONNX Runtime (CPU; CUDA or OpenVINO when installed)."""
from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np

from lpr_common.onnx import open_session
from lpr_detector import yolo
from lpr_detector.base import Box, Detector, DetectorError, register

# Preferred execution providers, best first; only those present are used.
_PROVIDERS = ('CUDAExecutionProvider', 'OpenVINOExecutionProvider', 'CPUExecutionProvider')


@register('onnx')
class OnnxYoloDetector(Detector):
    def __init__(self, model_path: str | os.PathLike, score_threshold: float = 0.35,
                 iou_threshold: float = 0.5, threads: int = 0, labels: list[str] | None = None,
                 input_size: int = 0):
        path = Path(model_path)
        if not path.is_file():
            raise DetectorError(f'model file not found: {path} (run `lpr models install`)')
        self._session = open_session(path, threads, DetectorError, providers=list(_PROVIDERS))
        inp = self._session.get_inputs()[0]
        if len(inp.shape) != 4:
            raise DetectorError(f'{path}: expected a 1x3xHxW input, got {inp.shape}')
        meta = self._session.get_modelmeta().custom_metadata_map
        self._input = inp.name
        # A model with a fixed input is fed that size; one that takes any size
        # (height and width not fixed) is fed the frame's shape fitted to
        # ``input_size`` on its long side, in multiples of the model's stride.
        self.fixed = isinstance(inp.shape[2], int) and isinstance(inp.shape[3], int)
        if self.fixed:
            self.size = (int(inp.shape[2]), int(inp.shape[3]))
        else:
            self.size = input_size or _int_meta(meta, 'imgsz') or 640
            self.stride = _int_meta(meta, 'stride') or 32
        self.labels = labels or _labels_from_metadata(self._session) or ['plate']
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.name = f'onnx:{path.stem}'
        self.providers = self._session.get_providers()

    def input_shape(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """The network input (height, width) a frame of this size is letterboxed into."""
        return self.size if self.fixed else yolo.fitted_input(image_hw, self.size, self.stride)

    def detect(self, image: np.ndarray) -> list[Box]:
        boxed, lb = yolo.letterbox(image, self.input_shape(image.shape[:2]))
        (output,) = self._session.run(None, {self._input: yolo.to_blob(boxed)})[:1]
        return yolo.decode(output, lb, self.labels, image.shape[:2],
                           self.score_threshold, self.iou_threshold)

    def close(self) -> None:
        self._session = None


def _labels_from_metadata(session) -> list[str] | None:
    """Ultralytics (and our converter) store ``names`` as a dict literal."""
    names = session.get_modelmeta().custom_metadata_map.get('names')
    if not names:
        return None
    try:
        parsed = ast.literal_eval(names)
    except (ValueError, SyntaxError):
        return None
    return [str(parsed[k]) for k in sorted(parsed)] if isinstance(parsed, dict) else None


def _int_meta(meta: dict, key: str) -> int | None:
    """An int from metadata such as ``imgsz: '[384, 384]'`` (the largest) or ``stride: '32'``."""
    try:
        value = ast.literal_eval(meta.get(key, ''))
    except (ValueError, SyntaxError):
        return None
    values = value if isinstance(value, (list, tuple)) else [value]
    ints = [int(v) for v in values if isinstance(v, int) and v > 0]
    return max(ints) if ints else None
