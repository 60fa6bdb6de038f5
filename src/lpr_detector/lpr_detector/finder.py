"""The detector's core: a backend plus the rules that turn boxes into plate crops."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpr_common.paths import model_dir
from lpr_detector import base, crops
from lpr_detector.base import Box

DEFAULT_PLATE_MODEL = 'yolov8n-plate-384.onnx'


def default_plate_model() -> Path:
    return model_dir() / DEFAULT_PLATE_MODEL


@dataclass(frozen=True)
class FoundPlate:
    box: Box
    crop: np.ndarray | None
    crop_rect: tuple[int, int, int, int]  # x, y, w, h of the crop in the frame


class PlateFinder:
    def __init__(self, detector: base.Detector, max_plates: int = 8, min_plate_width: float = 16.0,
                 pad_x: float = 0.15, pad_y: float = 0.35, with_crops: bool = True,
                 edge_margin: int = 3):
        self.detector = detector
        self.max_plates = max_plates
        self.min_plate_width = min_plate_width
        self.pad_x, self.pad_y = pad_x, pad_y
        self.with_crops = with_crops
        self.edge_margin = edge_margin

    @classmethod
    def from_config(cls, config) -> 'PlateFinder':
        model = Path(config.model_path).expanduser() if config.model_path else default_plate_model()
        detector = base.create(config.backend, model_path=model, score_threshold=config.score_threshold,
                               iou_threshold=config.iou_threshold, threads=config.threads)
        return cls(detector, config.max_plates, config.min_plate_width,
                   config.crop_pad_x, config.crop_pad_y, edge_margin=config.edge_margin)

    def find(self, image: np.ndarray) -> list[FoundPlate]:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected a BGR HxWx3 image, got shape {image.shape}')
        h, w = image.shape[:2]
        boxes = [b for b in self.detector.detect(image)
                 if b.width >= self.min_plate_width and not self._at_edge(b, w, h)]
        found = []
        for box in boxes[:self.max_plates]:
            rect = crops.padded_box(box, self.pad_x, self.pad_y, w, h)
            crop = crops.cut(image, rect) if self.with_crops else None
            found.append(FoundPlate(box, crop, rect))
        return found

    def _at_edge(self, box: Box, width: int, height: int) -> bool:
        """A plate cut by the frame border reads as a prefix or suffix of itself."""
        m = self.edge_margin
        return m >= 0 and (box.x <= m or box.y <= m or box.x2 >= width - m or box.y2 >= height - m)

    def close(self) -> None:
        self.detector.close()
