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
                 iou_threshold: float = 0.5, threads: int = 0, labels: list[str] | None = None):
        path = Path(model_path)
        if not path.is_file():
            raise DetectorError(f'model file not found: {path} (run `lpr models install`)')
        self._session = open_session(path, threads, DetectorError, providers=list(_PROVIDERS))
        inp = self._session.get_inputs()[0]
        if len(inp.shape) != 4 or not isinstance(inp.shape[2], int):
            raise DetectorError(f'{path}: expected a fixed-size 1x3xSxS input, got {inp.shape}')
        self._input = inp.name
        self.size = int(inp.shape[2])
        self.labels = labels or _labels_from_metadata(self._session) or ['plate']
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.name = f'onnx:{path.stem}'
        self.providers = self._session.get_providers()

    def detect(self, image: np.ndarray) -> list[Box]:
        square, lb = yolo.letterbox(image, self.size)
        (output,) = self._session.run(None, {self._input: yolo.to_blob(square)})[:1]
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
