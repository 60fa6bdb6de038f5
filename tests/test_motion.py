# SPDX-License-Identifier: AGPL-3.0-or-later
"""lpr_camera.motion: the motion gate on synthetic frames (no ROS needed).

Run: PYTHONPATH=src/lpr_camera:src/lpr_common python -m pytest tests/test_motion.py -q
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from lpr_camera.motion import GATED, PASS_FIRST, PASS_HOLD, PASS_KEEPALIVE, PASS_MOTION, MotionConfig, MotionGate

FPS = 25.0
H, W = 720, 1280


@pytest.fixture(scope='module')
def street() -> np.ndarray:
    """A textured, static BGR scene (smoothed noise: edges everywhere, like a real street)."""
    rng = np.random.default_rng(7)
    grey = cv2.GaussianBlur(rng.integers(0, 256, (H, W), dtype=np.uint8), (0, 0), 6)
    grey = cv2.normalize(grey, None, 40, 200, cv2.NORM_MINMAX)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def run(gate: MotionGate, frames, start: int = 0) -> list:
    return [gate.check(frame, (start + i) / FPS) for i, frame in enumerate(frames)]


def with_car(scene: np.ndarray, x: int, y: int = 300, size=(240, 160)) -> np.ndarray:
    frame = scene.copy()
    cv2.rectangle(frame, (x, y), (x + size[0], y + size[1]), (30, 30, 160), -1)
    cv2.rectangle(frame, (x + 70, y + 110), (x + 170, y + 135), (240, 240, 240), -1)   # a plate
    return frame


def test_a_static_scene_is_gated_but_for_the_first_frame_and_keepalives(street):
    gate = MotionGate(MotionConfig(keepalive_s=2.0))
    results = run(gate, [street] * int(10 * FPS))             # 10 s
    passed = [(i, r.reason) for i, r in enumerate(results) if r.passed]
    assert passed == [(0, PASS_FIRST), (50, PASS_KEEPALIVE), (100, PASS_KEEPALIVE), (150, PASS_KEEPALIVE),
                      (200, PASS_KEEPALIVE)]
    assert gate.passed == 5 and gate.gated == 245
    assert all(r.changed == 0 for r in results[1:])


def test_keepalive_zero_gates_every_still_frame(street):
    gate = MotionGate(MotionConfig(keepalive_s=0.0))
    assert sum(r.passed for r in run(gate, [street] * 200)) == 1


def test_a_moving_car_passes_and_a_parked_car_becomes_background(street):
    gate = MotionGate(MotionConfig(hold_s=0.5, keepalive_s=2.0))
    run(gate, [street] * 10)
    moving = [with_car(street, x) for x in range(0, 600, 12)]     # 50 frames, 300 px/s
    results = run(gate, moving, start=10)
    assert all(r.passed and r.reason == PASS_MOTION for r in results)
    assert min(r.changed for r in results) > 0.01
    parked = run(gate, [moving[-1]] * int(8 * FPS), start=60)   # it stops and stays 8 s
    reasons = [r.reason for r in parked]
    assert reasons[0] == PASS_MOTION                              # the car still differs from the background
    still_from = reasons.index(GATED)
    assert still_from < 3 * FPS                                   # absorbed within ~3 / adapt frames
    assert PASS_HOLD in reasons[:still_from + 1]
    later = [r.reason for r in parked[still_from:] if r.passed]
    assert later and set(later) == {PASS_KEEPALIVE}               # a parked car: only keepalives, every 2 s
    assert len(later) == pytest.approx((len(parked) - still_from) / FPS / 2.0, abs=1)


def test_sensor_noise_and_flicker_below_the_threshold_are_gated(street):
    small = street[::2, ::2]

    def frames():
        noise = np.empty(small.shape, np.int16)
        for i in range(100):
            cv2.randn(noise, 0, 8)                              # sensor noise, sigma 8 levels
            noisy = small.astype(np.int16) + noise + (12 if i % 2 else -12)   # flicker: +-12 levels
            yield np.clip(noisy, 0, 255).astype(np.uint8)

    gate = MotionGate(MotionConfig(keepalive_s=0.0))
    results = run(gate, frames())
    assert sum(r.passed for r in results) == 1                 # the first frame only
    assert max(r.changed for r in results[1:]) < gate.config.min_fraction


def test_a_flickering_lamp_in_one_corner_below_the_threshold_is_gated(street):
    frames = []
    for i in range(100):
        frame = street.copy()
        corner = frame[:200, :300].astype(np.int16) + (15 if i % 2 else 0)    # < 20 levels
        frame[:200, :300] = np.clip(corner, 0, 255).astype(np.uint8)
        frames.append(frame)
    gate = MotionGate(MotionConfig(keepalive_s=0.0))
    assert sum(r.passed for r in run(gate, frames)) == 1


def test_a_slow_brightness_change_is_followed_by_the_background(street):
    """Dusk on one half of the frame: +60 levels over 16 s. The background keeps up, nothing passes."""
    small, steps = street[::4, ::4], 400

    def frame(i: int) -> np.ndarray:
        out = small.copy()
        out[:, : out.shape[1] // 2] = cv2.add(small[:, : small.shape[1] // 2], 60.0 * i / steps)
        return out

    gate = MotionGate(MotionConfig(keepalive_s=0.0))
    results = run(gate, (frame(i) for i in range(steps)))
    assert sum(r.passed for r in results) == 1
    last = gate.small_grey(frame(steps - 1)).astype(np.float32)
    assert np.abs(gate._background - last).mean() < 5           # adapted, not stuck at the first frame
    assert np.abs(gate._background - gate.small_grey(small)).mean() > 20


def test_a_sudden_change_in_a_large_region_is_motion(street):
    gate = MotionGate(MotionConfig(keepalive_s=0.0))
    run(gate, [street] * 5)
    frame = street.copy()
    frame[400:, :400] = 255 - frame[400:, :400]                  # something new in a corner
    assert gate.check(frame, 5 / FPS).reason == PASS_MOTION


def test_a_new_frame_size_restarts_the_background(street):
    gate = MotionGate()
    run(gate, [street] * 3)
    assert gate.check(cv2.resize(street, (640, 480)), 1.0).reason == PASS_FIRST   # 4:3 now


def test_bad_settings_are_refused_with_the_parameter_names():
    with pytest.raises(ValueError, match=r'motion_min_fraction must be in \(0, 1\), got 2; '
                                         r'motion_keepalive_s must be >= 0, got -1'):
        MotionGate(MotionConfig(min_fraction=2, keepalive_s=-1))


def test_grey_analysis_copy_is_small_and_cheap(street):
    gate = MotionGate()
    full_hd = cv2.resize(street, (1920, 1080))
    assert gate.small_grey(full_hd).shape == (90, 160)
    gate.check(full_hd, 0.0)
    t0 = time.perf_counter()
    for i in range(50):
        gate.check(full_hd, i / FPS)
    per_frame_ms = (time.perf_counter() - t0) / 50 * 1000
    assert per_frame_ms < 10, per_frame_ms                       # ~0.5 ms here; generous for busy CI


@pytest.mark.parametrize('keepalive_s, events', [(2.0, 1), (12.0, 2)])
def test_keepalive_below_the_repeat_window_keeps_a_parked_car_one_event(keepalive_s, events):
    """The recorder's pass logic on the reads the gate lets through: a car arrives (motion),
    parks (keepalive reads only), then someone walks past it (motion: a burst of reads)."""
    from lpr_recorder.passes import FINAL, Observation, PassAggregator, PassConfig
    config = PassConfig()
    assert keepalive_s < config.repeat_window_s or events == 2
    arriving = [i / FPS for i in range(30)]
    parked = [arriving[-1] + keepalive_s * k for k in range(1, int(60 / keepalive_s) + 1)]
    walk_past = [41.0 + i / FPS for i in range(10)]
    aggregator, decisions, clock = PassAggregator(config), [], 0.0
    for t in sorted(arriving + parked + walk_past):
        while clock < t:                                       # the recorder ticks every 0.25 s
            decisions += aggregator.tick(int(clock * 1e9))
            clock += 0.25
        decisions += aggregator.add(Observation('cam', int(t * 1e9), 'AB12CDE', 0.9, (100, 300, 100, 25)))
    decisions += aggregator.flush()
    assert sum(d.stage == FINAL for d in decisions) == events
