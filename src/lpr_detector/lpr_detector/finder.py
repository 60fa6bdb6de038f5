"""The detector's core: a backend plus the rules that turn boxes into plate crops."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpr_common.paths import model_dir
from lpr_detector import base, crops
from lpr_detector.base import Box
from lpr_detector.gating import Gate

NO_GATE = Gate()

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
                 edge_margin: int = 3, tiles: int = 0, iou_threshold: float = 0.5):
        self.detector = detector
        self.max_plates = max_plates
        self.min_plate_width = min_plate_width
        self.pad_x, self.pad_y = pad_x, pad_y
        self.with_crops = with_crops
        self.edge_margin = edge_margin
        self.tiles = tiles          # second pass over this many overlapping tiles when nothing was found
        self.iou_threshold = iou_threshold
        self.tile_passes = 0        # how often the second pass ran (bench, status)

    @classmethod
    def from_config(cls, config) -> 'PlateFinder':
        model = Path(config.model_path).expanduser() if config.model_path else default_plate_model()
        detector = base.create(config.backend, model_path=model, score_threshold=config.score_threshold,
                               iou_threshold=config.iou_threshold, threads=config.threads,
                               input_size=config.input_size)
        return cls(detector, config.max_plates, config.min_plate_width,
                   config.crop_pad_x, config.crop_pad_y, edge_margin=config.edge_margin,
                   tiles=config.small_plate_tiles, iou_threshold=config.iou_threshold)

    def find(self, image: np.ndarray, gate: Gate = NO_GATE) -> list[FoundPlate]:
        """Plates in a BGR frame, best first; ``gate`` limits the search to a
        camera's region of interest and minimum plate width."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected a BGR HxWx3 image, got shape {image.shape}')
        h, w = image.shape[:2]
        x0, y0, x1, y1 = gate.roi.bounds(w, h) if gate.roi else (0, 0, w, h)
        area = image[y0:y1, x0:x1]
        boxes = self._keep(self._shift(self.detector.detect(area), x0, y0), (x0, y0, x1, y1), w, h, gate)
        if not boxes and self.tiles > 1:
            boxes = self._keep(self._shift(self._detect_tiles(area), x0, y0), (x0, y0, x1, y1), w, h, gate)
        found = []
        for box in boxes[:self.max_plates]:
            rect = crops.padded_box(box, self.pad_x, self.pad_y, w, h)
            crop = crops.cut(image, rect) if self.with_crops else None
            found.append(FoundPlate(box, crop, rect))
        return found

    def warm_up(self, width: int = 1280, height: int = 720) -> None:
        """One inference on a blank frame: runtimes allocate and tune on the
        first run (hundreds of ms), which would otherwise fall on the first car."""
        self.detector.detect(np.zeros((height, width, 3), np.uint8))

    def _keep(self, boxes: list[Box], area: tuple[int, int, int, int], w: int, h: int, gate: Gate) -> list[Box]:
        min_width = self.min_plate_width if gate.min_plate_width is None else gate.min_plate_width
        return [b for b in boxes if b.width >= min_width and not self._at_edge(b, area, w, h)
                and (gate.roi is None or gate.roi.contains(b.x + b.width / 2, b.y + b.height / 2, w, h))]

    @staticmethod
    def _shift(boxes: list[Box], dx: int, dy: int) -> list[Box]:
        if not (dx or dy):
            return boxes
        return [Box(b.x + dx, b.y + dy, b.width, b.height, b.score, b.label) for b in boxes]

    def _detect_tiles(self, image: np.ndarray) -> list[Box]:
        """Small, distant plates: the model sees the frame at its input size
        (384 px for 1280 px frames, a third), so a 60 px plate shrinks to 20 px.
        Tiles side by side, each overlapping its neighbour by a fifth, are each
        seen at about ``tiles`` times the scale; their boxes are merged by NMS.
        Boxes cut by a tile border (not the frame's) are dropped: the
        neighbouring tile holds the whole plate."""
        self.tile_passes += 1
        h, w = image.shape[:2]
        n = self.tiles
        tile_w = int(np.ceil(w / (n - (n - 1) * 0.2)))
        step = (w - tile_w) / (n - 1)
        boxes = []
        for i in range(n):
            x0 = int(round(i * step))
            tile = image[:, x0:x0 + tile_w]
            for b in self.detector.detect(tile):
                inner_left = x0 > 0 and b.x <= self.edge_margin
                inner_right = x0 + tile_w < w and b.x2 >= tile.shape[1] - self.edge_margin
                if not (inner_left or inner_right):
                    boxes.append(Box(b.x + x0, b.y, b.width, b.height, b.score, b.label))
        boxes.sort(key=lambda b: b.score, reverse=True)
        kept: list[Box] = []
        for b in boxes:
            if all(b.iou(k) < self.iou_threshold for k in kept):
                kept.append(b)
        return kept

    def _at_edge(self, box: Box, area: tuple[int, int, int, int], width: int, height: int) -> bool:
        """A plate cut by the frame border, or by the border of the searched
        area, reads as a prefix or suffix of itself."""
        m = self.edge_margin
        if m < 0:
            return False
        x0, y0, x1, y1 = area
        return (box.x <= max(0, x0) + m or box.y <= max(0, y0) + m
                or box.x2 >= min(width, x1) - m or box.y2 >= min(height, y1) - m)

    def close(self) -> None:
        self.detector.close()
