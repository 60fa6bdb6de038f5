"""Picamera2 controls and sensor time stamps (pure Python; libcamera imported lazily).

Controls, as the Picamera2 manual (appendix C, "Camera controls") and libcamera's
control reference describe them:

==================  ==========================================  =========================
control             values                                      libcamera default
==================  ==========================================  =========================
AfMode              AfModeEnum Manual, Auto, Continuous         camera's (no AF: absent)
LensPosition        dioptres (1 / metres), 0 = infinity, up to  camera's; honoured in
                    the camera's maximum (camera_controls)      AfMode Manual only
AeExposureMode      AeExposureModeEnum Normal, Short, Long,     Normal
                    Custom
Brightness          -1.0 .. 1.0                                 0.0
Contrast            0.0 .. 32.0                                 1.0
Sharpness           0.0 .. 16.0                                 1.0
==================  ==========================================  =========================

The ranges are checked twice: against the table above when the parameters are read, and
against the ranges the camera itself reports (``Picamera2.camera_controls``: name ->
(min, max, default)) when it is opened.

Time stamps: libcamera's ``SensorTimestamp`` metadata is, in its words, "the time when the
first row of the image sensor active array is exposed", in ns of CLOCK_BOOTTIME (Picamera2's
own examples compare it with ``time.monotonic_ns()``: CLOCK_MONOTONIC and CLOCK_BOOTTIME differ
only across a suspend, which an edge box does not do). ROS stamps are wall-clock (system) time.
:class:`SensorClock` measures the offset between the two clocks when the camera starts (and
after each resume) and adds it to every sensor stamp, so frames carry the sensor's moment on
the ROS clock, free of the capture thread's scheduling jitter and of the buffer queue's delay.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from lpr_camera.config import CameraConfig

PARAM_PREFIX = 'picamera2_'

# name -> libcamera enum member, by the enum's class name in libcamera.controls
AF_MODES = {'manual': 'Manual', 'auto': 'Auto', 'continuous': 'Continuous'}
AE_EXPOSURE_MODES = {'normal': 'Normal', 'short': 'Short', 'long': 'Long', 'custom': 'Custom'}
# Their values in libcamera's control_ids.yaml, used when libcamera.controls is not importable.
_ENUM_VALUES = {'AfModeEnum': {'Manual': 0, 'Auto': 1, 'Continuous': 2},
                'AeExposureModeEnum': {'Normal': 0, 'Short': 1, 'Long': 2, 'Custom': 3}}

# control -> (min, max, default) from the documentation; LensPosition's maximum is the camera's
DOCUMENTED_RANGES = {'Brightness': (-1.0, 1.0, 0.0), 'Contrast': (0.0, 32.0, 1.0),
                     'Sharpness': (0.0, 16.0, 1.0)}


class ControlError(ValueError):
    """A control value the camera cannot take; the message is one line."""


@dataclass(frozen=True)
class PiCameraControls:
    """The camera node's Picamera2 parameters. Empty / None = leave it to the camera."""

    # The camera node's picamera2_* parameters (lpr_camera.config) give the defaults.
    af_mode: str = CameraConfig.picamera2_af_mode                   # '' | manual | auto | continuous
    lens_position: float | None = None                              # dioptres; implies af_mode manual
    ae_exposure_mode: str = CameraConfig.picamera2_ae_exposure_mode  # '' | normal | short | long | custom
    brightness: float = CameraConfig.picamera2_brightness
    contrast: float = CameraConfig.picamera2_contrast
    sharpness: float = CameraConfig.picamera2_sharpness

    def problems(self) -> list[str]:
        """One line per bad value, naming the node parameter."""
        out = []
        for name, value, allowed in (('af_mode', self.af_mode, AF_MODES),
                                     ('ae_exposure_mode', self.ae_exposure_mode, AE_EXPOSURE_MODES)):
            if value and value.lower() not in allowed:
                out.append(f'{PARAM_PREFIX}{name} must be one of {", ".join(allowed)} (or empty), got {value!r}')
        if self.lens_position is not None:
            if self.lens_position < 0:
                out.append(f'{PARAM_PREFIX}lens_position must be >= 0 dioptres (0 = infinity), '
                           f'got {self.lens_position}')
            if self.af_mode and self.af_mode.lower() != 'manual':
                out.append(f'{PARAM_PREFIX}lens_position needs {PARAM_PREFIX}af_mode manual (or empty), '
                           f'got {self.af_mode!r}')
        for control, (low, high, _) in DOCUMENTED_RANGES.items():
            value = getattr(self, control.lower())
            if not low <= value <= high:
                out.append(f'{PARAM_PREFIX}{control.lower()} must be in {low:g}..{high:g}, got {value:g}')
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise ControlError('; '.join(problems))

    def to_controls(self, camera_ranges: dict | None = None) -> dict:
        """The Picamera2 controls dict, enums as libcamera's. ``camera_ranges`` is the camera's
        ``camera_controls``: values are checked against its ranges; a control it does not
        advertise is refused when set, left out when at its default."""
        self.check()
        af_mode = 'manual' if self.lens_position is not None and not self.af_mode else self.af_mode.lower()
        wanted = {'AfMode': _enum('AfModeEnum', AF_MODES[af_mode]) if af_mode else None,
                  'LensPosition': self.lens_position,
                  'AeExposureMode': (_enum('AeExposureModeEnum', AE_EXPOSURE_MODES[self.ae_exposure_mode.lower()])
                                     if self.ae_exposure_mode else None),
                  **{name: float(getattr(self, name.lower())) for name in DOCUMENTED_RANGES}}
        controls = {}
        for name, value in wanted.items():
            if value is None:
                continue
            if camera_ranges is not None and not _supported(name, value, camera_ranges):
                continue
            controls[name] = value
        return controls


def _supported(name: str, value, camera_ranges: dict) -> bool:
    """True to send the control; False to leave out a default the camera lacks; raises when
    the camera lacks a control that was set, or its range excludes the value."""
    if name not in camera_ranges:
        if name in DOCUMENTED_RANGES and value == DOCUMENTED_RANGES[name][2]:
            return False
        hint = ' (a camera without autofocus)' if name in ('AfMode', 'LensPosition') else ''
        raise ControlError(f'this camera has no {name} control{hint}: '
                           f'unset {PARAM_PREFIX}{_param_name(name)}')
    low, high = camera_ranges[name][:2]
    numeric = isinstance(value, (int, float)) and isinstance(low, (int, float)) and isinstance(high, (int, float))
    if numeric and not low <= value <= high:
        raise ControlError(f'{PARAM_PREFIX}{_param_name(name)} {value:g} is outside this camera\'s range '
                           f'{low:g}..{high:g}')
    return True


def _param_name(control: str) -> str:
    return {'AfMode': 'af_mode', 'LensPosition': 'lens_position',
            'AeExposureMode': 'ae_exposure_mode'}.get(control, control.lower())


def _enum(enum: str, member: str):
    """libcamera.controls.<enum>.<member>, or its documented integer without libcamera."""
    try:
        from libcamera import controls
    except ImportError:
        return _ENUM_VALUES[enum][member]
    return getattr(getattr(controls, enum), member)


def frame_duration_us(fps: float) -> tuple[int, int]:
    """FrameDurationLimits (min, max) in microseconds for a fixed frame rate; Picamera2's
    newer ``FrameRate`` control is a shorthand for the same thing."""
    duration = int(round(1_000_000 / fps))
    return duration, duration


class SensorClock:
    """Maps sensor time stamps (ns of CLOCK_BOOTTIME) to wall-clock ns (the ROS clock).

    ``sync()`` reads both clocks a few times and keeps the tightest pair, so the offset is
    exact to a few microseconds. A stamp that maps more than ``tolerance_ns`` away from now
    (the wall clock was stepped by NTP, or the camera stamps another clock) re-syncs once;
    if it is still off, the caller gets None and uses the arrival time.
    """

    def __init__(self, sensor_ns: Callable[[], int] | None = None,
                 wall_ns: Callable[[], int] = time.time_ns, tolerance_ns: int = 2_000_000_000) -> None:
        clock_id = getattr(time, 'CLOCK_BOOTTIME', time.CLOCK_MONOTONIC)
        self._sensor_ns = sensor_ns or (lambda: time.clock_gettime_ns(clock_id))
        self._wall_ns = wall_ns
        self.tolerance_ns = tolerance_ns
        self.offset_ns: int | None = None
        self.resyncs = 0

    def sync(self, tries: int = 5) -> int:
        best = None
        for _ in range(tries):
            before = self._wall_ns()
            sensor = self._sensor_ns()
            after = self._wall_ns()
            if best is None or after - before < best[0]:
                best = (after - before, (before + after) // 2 - sensor)
        self.offset_ns = best[1]
        return self.offset_ns

    def to_wall(self, sensor_ns: int) -> int | None:
        """Wall-clock ns of a sensor stamp, or None when it cannot be trusted."""
        if self.offset_ns is None:
            self.sync()
        stamp = sensor_ns + self.offset_ns
        if abs(self._wall_ns() - stamp) <= self.tolerance_ns:
            return stamp
        self.sync()
        self.resyncs += 1
        stamp = sensor_ns + self.offset_ns
        return stamp if abs(self._wall_ns() - stamp) <= self.tolerance_ns else None
