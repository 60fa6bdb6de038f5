"""Per-camera gating of plate detection: a region of interest and a minimum plate size.

The region is a polygon in fractions of the frame (so it survives a change of
stream resolution), written in the detector's parameters as::

    roi: ['gate_in: 0.10,0.40 0.90,0.40 0.95,1.0 0.05,1.0']
    min_plate_width_by_camera: ['gate_out=40']

The detector runs on the region's bounding rectangle only (fewer pixels, and a
small region is seen at a larger scale), then keeps plates whose centre lies
inside the polygon. No ROS here.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lpr_common.config import ConfigError

ANY_CAMERA = '*'


@dataclass(frozen=True)
class Roi:
    points: tuple[tuple[float, float], ...]   # (x, y) fractions of the frame width and height

    def polygon(self, width: int, height: int) -> np.ndarray:
        return np.array([(x * width, y * height) for x, y in self.points], np.float32)

    def bounds(self, width: int, height: int, margin: float = 0.04) -> tuple[int, int, int, int]:
        """Pixel rectangle (x0, y0, x1, y1) around the polygon, widened by ``margin``
        of the frame so a plate whose centre is just inside is not cut."""
        xs = [x for x, _ in self.points]
        ys = [y for _, y in self.points]
        x0 = max(0, int((min(xs) - margin) * width))
        y0 = max(0, int((min(ys) - margin) * height))
        x1 = min(width, int(np.ceil((max(xs) + margin) * width)))
        y1 = min(height, int(np.ceil((max(ys) + margin) * height)))
        return x0, y0, x1, y1

    def contains(self, x: float, y: float, width: int, height: int) -> bool:
        return cv2.pointPolygonTest(self.polygon(width, height), (float(x), float(y)), False) >= 0


@dataclass(frozen=True)
class Gate:
    """What one camera's frames are searched for."""
    roi: Roi | None = None
    min_plate_width: float | None = None   # None = the detector's own min_plate_width


def parse_roi(text: str) -> tuple[str, Roi]:
    """'CAMERA: x,y x,y x,y ...' (or without 'CAMERA:' for every camera) -> (camera, Roi)."""
    camera, sep, points_text = text.partition(':')
    if not sep:
        camera, points_text = ANY_CAMERA, text
    camera = camera.strip() or ANY_CAMERA
    points = []
    for pair in points_text.split():
        try:
            x, y = (float(v) for v in pair.split(','))
        except ValueError:
            raise ConfigError(f'roi {text!r}: {pair!r} is not a point "x,y"') from None
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ConfigError(f'roi {text!r}: point {pair} is outside the frame (fractions 0..1 of width, height)')
        points.append((x, y))
    if len(points) < 3:
        raise ConfigError(f'roi {text!r}: a region needs at least 3 points "x,y" (fractions of the frame)')
    return camera, Roi(tuple(points))


def parse_min_width(text: str) -> tuple[str, float]:
    """'CAMERA=PIXELS' -> (camera, pixels)."""
    camera, sep, value = text.partition('=')
    try:
        pixels = float(value)
    except ValueError:
        pixels = -1.0
    if not sep or not camera.strip() or pixels < 0:
        raise ConfigError(f'min_plate_width_by_camera {text!r}: expected "CAMERA=PIXELS", e.g. "gate_in=40"')
    return camera.strip(), pixels


class Gates:
    """The gate of every camera, from the detector's parameters."""

    def __init__(self, roi: list[str] = (), min_widths: list[str] = ()):
        rois = dict(parse_roi(t) for t in roi)
        widths = dict(parse_min_width(t) for t in min_widths)
        self._gates = {camera: Gate(rois.get(camera), widths.get(camera)) for camera in set(rois) | set(widths)}
        self._default = Gate(rois.get(ANY_CAMERA))

    def for_camera(self, camera: str) -> Gate:
        gate = self._gates.get(camera)
        if gate is None:
            return self._default
        return Gate(gate.roi or self._default.roi, gate.min_plate_width)

    def cameras(self) -> set[str]:
        return set(self._gates)
