"""Model set-up: everything the default graph needs, built offline from the
installed wheels, into the model cache (never into git)."""
from __future__ import annotations

import onnx

from lpr_common.paths import model_dir


def plate_model_status() -> tuple[str, str]:
    """('ok' | 'missing' | 'stale', path) of the default plate model."""
    from lpr_detector.finder import default_plate_model
    from lpr_detector.yolov8_onnx import _sha256, find_fastanpr_checkpoint
    path = default_plate_model()
    if not path.is_file():
        return 'missing', str(path)
    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        source = find_fastanpr_checkpoint()
    except Exception:  # noqa: BLE001 - an unreadable file is as good as missing
        return 'stale', str(path)
    return ('ok' if meta.get('source_sha256') == _sha256(source) else 'stale'), str(path)


def install(force: bool = False, log=print) -> int:
    """Convert the fastanpr YOLOv8n checkpoint to ONNX (no torch) and check the OCR models."""
    from lpr_detector.finder import default_plate_model
    from lpr_detector.yolov8_onnx import ConversionError, convert, find_fastanpr_checkpoint
    from lpr_ocr.base import OcrError
    from lpr_ocr.ppocr import default_model

    model_dir().mkdir(parents=True, exist_ok=True)
    state, path = plate_model_status()
    if state == 'ok' and not force:
        log(f'plate model: {path} (up to date)')
    else:
        try:
            out = convert(find_fastanpr_checkpoint(), default_plate_model())
        except ConversionError as exc:
            log(f'error: {exc}')
            return 2
        log(f'plate model: {out} (converted from the fastanpr checkpoint)')
    try:
        for kind in ('det', 'rec'):
            model = default_model(kind)
            if not model.is_file():
                log(f'error: OCR {kind} model missing: {model}')
                return 2
            log(f'OCR {kind} model: {model}')
    except OcrError as exc:
        log(f'error: {exc}')
        return 2
    return 0
