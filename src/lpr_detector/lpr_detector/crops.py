"""Cutting plate crops out of a frame."""
from __future__ import annotations

import numpy as np

from lpr_detector.base import Box


def padded_box(box: Box, pad_x: float, pad_y: float, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the box grown by pad_x/pad_y of its size, clipped to the frame."""
    dx, dy = box.width * pad_x, box.height * pad_y
    x0 = int(max(0, np.floor(box.x - dx)))
    y0 = int(max(0, np.floor(box.y - dy)))
    x1 = int(min(width, np.ceil(box.x2 + dx)))
    y1 = int(min(height, np.ceil(box.y2 + dy)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def cut(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = rect
    return np.ascontiguousarray(image[y:y + h, x:x + w])
