"""The recorder's door: what a read must be before it may become part of an
event (no ROS here). A read that can never be stored (a NaN confidence, a
plate longer than the journal's column, an over-long camera id) is refused
with its reason, never retried; a bad part that the event can do without
(per-character confidences, a box, region or format text) is dropped and
noted. The limits are the journal's own column sizes, the same on SQLite and
PostgreSQL."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lpr_recorder.journal import Event


def _limit(column: str) -> int:
    return int(Event.__table__.c[column].type.length)


PLATE_MAX, CAMERA_MAX = _limit('plate'), _limit('camera_id')
REGION_MAX, FORMAT_MAX = _limit('region'), _limit('plate_format')


class BadRead(ValueError):
    """A read that cannot be recorded; the message is the reason."""


@dataclass(frozen=True)
class CleanRead:
    camera: str
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    box: tuple[float, float, float, float]
    region: str
    format: str
    dropped: tuple[str, ...] = ()   # parts left out, with why


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def clean_read(camera: str, text: str, confidence, char_confidences=(), box=(0.0, 0.0, 0.0, 0.0),
               region: str = '', fmt: str = '') -> CleanRead:
    if not camera or len(camera) > CAMERA_MAX:
        raise BadRead(f'camera id must be 1..{CAMERA_MAX} characters, got {len(camera)}')
    if len(text) > PLATE_MAX:
        raise BadRead(f'plate text longer than {PLATE_MAX} characters ({len(text)})')
    if not text.isprintable():
        raise BadRead('plate text holds control characters')
    if not _finite([confidence]) or not 0.0 <= confidence <= 1.0:
        raise BadRead(f'confidence must be a number in 0..1, got {confidence!r}')
    dropped = []
    chars = tuple(float(c) for c in char_confidences)
    if not _finite(chars) or len(chars) not in (0, len(text)):
        chars = ()
        dropped.append('per-character confidences (not finite or not one per character)')
    box = tuple(float(v) for v in box)
    if len(box) != 4 or not _finite(box):
        box = (0.0, 0.0, 0.0, 0.0)
        dropped.append('plate box (not finite)')
    if len(region) > REGION_MAX:
        region = ''
        dropped.append(f'region (longer than {REGION_MAX})')
    if len(fmt) > FORMAT_MAX:
        fmt = ''
        dropped.append(f'format (longer than {FORMAT_MAX})')
    return CleanRead(camera, text, float(confidence), chars, box, region, fmt, tuple(dropped))


def is_image(data: bytes | None) -> bool:
    """Whether ``data`` is an image OpenCV can decode (JPEG, PNG...)."""
    if not data:
        return False
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    return image is not None and image.size > 0
