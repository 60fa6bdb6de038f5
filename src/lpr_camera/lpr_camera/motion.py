"""Motion gating: pass a frame on only when something moves (no ROS here).

An idle scene (an empty lane at night) costs the detector and OCR a full
inference per frame for nothing. The gate looks at a small grey copy of each
frame (``width`` pixels wide, 160 by default; about 0.5 ms of CPU a frame,
whatever the frame size) and compares it with a running-average background:

* a pixel has changed when it differs from the background by more than
  ``pixel_threshold`` grey levels, after the frame's median difference is taken
  off (a uniform brightness step - auto exposure, a cloud, mains flicker - moves
  every pixel alike and is not motion);
* the frame shows motion when at least ``min_fraction`` of the pixels changed;
* the background follows every frame at rate ``adapt`` (exponential average),
  so a slow lighting change, or a car that parks, becomes background within
  about ``3 / adapt`` frames.

A frame passes when it shows motion, within ``hold_s`` after motion (a car
slowing to a stop keeps its last frames), as the very first frame, and at
least every ``keepalive_s`` seconds in a still scene (0 = never).

The keepalive is for the recorder's pass logic: a read of a plate within
``repeat_window_s`` (10 s by default) of its pass's last read rejoins that pass
instead of making a new event. A parked car whose plate is read on every
keepalive keeps its pass "recent", so when something moves near it (a
pedestrian, another car) and its plate is read again in a burst of frames, the
reads rejoin the old pass: one event per parked car. With ``keepalive_s``
longer than ``repeat_window_s`` the pass lapses between keepalives and such a
burst makes a second event (tests/test_motion.py checks both). A single
keepalive read alone never makes an event (the recorder's ``min_reads`` is 2).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lpr_camera.config import CameraConfig

PASS_FIRST, PASS_MOTION, PASS_HOLD, PASS_KEEPALIVE, GATED = 'first', 'motion', 'hold', 'keepalive', 'gated'


@dataclass(frozen=True)
class MotionConfig:
    # The camera node's motion_* parameters (lpr_camera.config, with their descriptions) give the defaults.
    width: int = CameraConfig.motion_width
    pixel_threshold: float = CameraConfig.motion_pixel_threshold
    min_fraction: float = CameraConfig.motion_min_fraction
    adapt: float = CameraConfig.motion_adapt
    hold_s: float = CameraConfig.motion_hold_s
    keepalive_s: float = CameraConfig.motion_keepalive_s

    def problems(self) -> list[str]:
        """One line per bad value, naming the camera node's parameter."""
        return [msg for bad, msg in (
            (not 16 <= self.width <= 1920, f'motion_width must be in 16..1920, got {self.width}'),
            (not 0 < self.pixel_threshold < 255,
             f'motion_pixel_threshold must be in (0, 255), got {self.pixel_threshold}'),
            (not 0 < self.min_fraction < 1, f'motion_min_fraction must be in (0, 1), got {self.min_fraction}'),
            (not 0 < self.adapt <= 1, f'motion_adapt must be in (0, 1], got {self.adapt}'),
            (self.hold_s < 0, f'motion_hold_s must be >= 0, got {self.hold_s}'),
            (self.keepalive_s < 0, f'motion_keepalive_s must be >= 0, got {self.keepalive_s}'),
        ) if bad]


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str          # PASS_* or GATED
    changed: float       # share of changed pixels, 0..1


class MotionGate:
    """Decides per frame whether it goes downstream; counts ``passed`` and ``gated``."""

    def __init__(self, config: MotionConfig = MotionConfig()) -> None:
        problems = config.problems()
        if problems:
            raise ValueError('; '.join(problems))
        self.config = config
        self.passed = 0
        self.gated = 0
        self._background: np.ndarray | None = None
        self._last_motion_s: float | None = None
        self._last_pass_s: float | None = None

    def check(self, image: np.ndarray, now_s: float) -> GateResult:
        """The gate's decision for ``image`` (BGR or grey) seen at ``now_s`` (any monotonic seconds)."""
        small = self.small_grey(image)
        if self._background is None or self._background.shape != small.shape:
            self._background = small.astype(np.float32)
            return self._count(GateResult(True, PASS_FIRST, 1.0), now_s)
        changed = self._changed_fraction(small)
        cv2.accumulateWeighted(small, self._background, self.config.adapt)
        moving = changed >= self.config.min_fraction
        if moving:
            self._last_motion_s = now_s
        return self._count(GateResult(*self._decide(moving, now_s), changed), now_s)

    def small_grey(self, image: np.ndarray) -> np.ndarray:
        """``image`` shrunk to the analysis width, grey. A nearest-pixel pick at twice the size,
        then 2x2 averaging: noise halves, at a twentieth of a full area resize's cost."""
        h, w = image.shape[:2]
        width = min(self.config.width, w)
        size = (width, max(1, round(h * width / w)))
        if w >= 4 * width:
            image = cv2.resize(image, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small

    def _changed_fraction(self, small: np.ndarray) -> float:
        diff = small.astype(np.float32) - self._background
        diff -= np.median(diff)             # a uniform brightness step is not motion
        return float(np.count_nonzero(np.abs(diff) > self.config.pixel_threshold)) / diff.size

    def _decide(self, moving: bool, now_s: float) -> tuple[bool, str]:
        c = self.config
        if moving:
            return True, PASS_MOTION
        if self._last_motion_s is not None and now_s - self._last_motion_s <= c.hold_s:
            return True, PASS_HOLD
        if c.keepalive_s and now_s - self._last_pass_s >= c.keepalive_s:
            return True, PASS_KEEPALIVE
        return False, GATED

    def _count(self, result: GateResult, now_s: float) -> GateResult:
        if result.passed:
            self.passed += 1
            self._last_pass_s = now_s
        else:
            self.gated += 1
        return result
