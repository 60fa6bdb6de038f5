"""The debug view: a frame with plate boxes, texts and confidences drawn on it."""
from __future__ import annotations

import cv2
import numpy as np

from lpr_detector.base import Box

GREEN, YELLOW, BLACK = (60, 220, 60), (0, 220, 255), (0, 0, 0)


def annotate(image: np.ndarray, boxes: list[Box], labels: list[str], fps: float | None = None) -> np.ndarray:
    """A copy of ``image`` with each box and its label (text + confidence)."""
    out = image.copy()
    scale = max(0.5, image.shape[1] / 1280)
    thickness = max(1, int(round(2 * scale)))
    for box, label in zip(boxes, labels):
        p0 = (int(box.x), int(box.y))
        p1 = (int(box.x2), int(box.y2))
        colour = GREEN if label else YELLOW
        cv2.rectangle(out, p0, p1, colour, thickness)
        text = label or f'plate {box.score:.2f}'
        _label(out, text, p0, colour, scale, thickness)
    if fps is not None:
        _label(out, f'{fps:.1f} fps', (8, int(30 * scale)), GREEN, scale, thickness)
    return out


def _label(image, text, origin, colour, scale, thickness) -> None:
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale
    (tw, th), base = cv2.getTextSize(text, font, size, thickness)
    x, y = origin[0], max(th + base, origin[1] - 4)
    cv2.rectangle(image, (x, y - th - base), (x + tw + 4, y + base // 2), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 2, y - base // 2), font, size, BLACK, thickness, cv2.LINE_AA)
