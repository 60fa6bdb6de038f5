#!/usr/bin/env python3
"""CPU of camera + plate detector with motion gating off and on, over one clip.

The clip is played through the camera's real frame source (lpr_camera.sources,
as fast as it decodes), followed by an idle stretch: the clip's last frame held
for ``--idle-s`` seconds with a little noise (``--noise``, grey levels), written
into the same video so it is decoded like the rest. Each frame goes through the
motion gate (mode "on") or straight on (mode "off"); frames that pass go to the
real detector core (lpr_detector.finder.PlateFinder on ONNX Runtime, the
model cache's default model unless ``--model``). Process CPU time is measured
per frame and summed per segment (clip, idle), so the figures are CPU seconds
of this process per minute of video, whatever else the machine is running.

    PYTHONPATH=... python tools/motion_bench.py CLIP [--idle-s 45] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Segment:
    frames: int = 0
    passed: int = 0
    plates: int = 0
    cpu_s: float = 0.0


@dataclass
class Run:
    mode: str
    segments: dict[str, Segment] = field(default_factory=lambda: {'clip': Segment(), 'idle': Segment()})


def build_video(clip: str, idle_s: float, noise: float, out: Path) -> tuple[int, int, float]:
    """Clip + idle stretch into ``out``; returns (clip frames, idle frames, fps)."""
    from lpr_camera.sources import open_source
    src = open_source(clip, realtime=False)
    src.open()
    fps = src.fps or 25.0
    writer, last, count = None, None, 0
    while (frame := src.read()) is not None:
        if writer is None:
            h, w = frame.image.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        writer.write(frame.image)
        last, count = frame.image, count + 1
    src.close()
    if writer is None:
        raise SystemExit(f'no frames in {clip}')
    rng = np.random.default_rng(0)
    idle = int(round(idle_s * fps))
    for _ in range(idle):
        noisy = last.astype(np.float32) + rng.normal(0.0, noise, last.shape).astype(np.float32)
        writer.write(np.clip(noisy, 0, 255).astype(np.uint8))
    writer.release()
    return count, idle, fps


def play(video: Path, clip_frames: int, fps: float, finder, gating: bool) -> Run:
    from lpr_camera.motion import MotionGate
    from lpr_camera.sources import open_source
    run = Run('on' if gating else 'off')
    gate = MotionGate() if gating else None
    src = open_source(str(video), realtime=False)
    src.open()
    seq = 0
    cpu = time.process_time()
    while True:
        frame = src.read()                          # decode: the camera's cost, in both modes
        if frame is None:
            break
        segment = run.segments['clip' if seq < clip_frames else 'idle']
        passed = gate is None or gate.check(frame.image, seq / fps).passed
        if passed:
            segment.passed += 1
            segment.plates += len(finder.find(frame.image))
        now = time.process_time()
        segment.frames += 1
        segment.cpu_s += now - cpu
        cpu = now
        seq += 1
    src.close()
    return run


def gate_cost_ms(video: Path, frames: int = 300) -> float:
    """CPU ms per frame of the gate alone, on the video's own frames."""
    from lpr_camera.motion import MotionGate
    from lpr_camera.sources import open_source
    src = open_source(str(video), realtime=False)
    src.open()
    images = [f.image for f in iter(src.read, None)][:frames]
    src.close()
    gate = MotionGate()
    cpu = time.process_time()
    for i, image in enumerate(images):
        gate.check(image, i / 25.0)
    return (time.process_time() - cpu) / len(images) * 1000.0


def summary(runs: list[Run], fps: float) -> dict:
    """Mean over rounds, per mode and segment: CPU s per minute of video, frames passed."""
    out = {}
    for mode in ('off', 'on'):
        mine = [r for r in runs if r.mode == mode]
        for name in ('clip', 'idle', 'all'):
            segs = [list(r.segments.values()) if name == 'all' else [r.segments[name]] for r in mine]
            frames = sum(s.frames for s in segs[0])
            minutes = frames / fps / 60.0
            cpu = sum(sum(s.cpu_s for s in group) for group in segs) / len(segs)
            out[f'{mode}/{name}'] = {
                'video_s': round(frames / fps, 1), 'frames': frames,
                'passed': sum(s.passed for s in segs[0]), 'plates': sum(s.plates for s in segs[0]),
                'cpu_s': round(cpu, 2), 'cpu_s_per_video_min': round(cpu / minutes, 2) if minutes else None}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('clip', help='a video file')
    parser.add_argument('--idle-s', type=float, default=45.0, help='idle stretch after the clip, seconds')
    parser.add_argument('--noise', type=float, default=2.0, help='noise of the idle frames, grey levels (sigma)')
    parser.add_argument('--model', default='', help='detector model; default: the model cache\'s plate model')
    parser.add_argument('--threads', type=int, default=1, help='detector inference threads (the node default)')
    parser.add_argument('--rounds', type=int, default=2, help='off/on rounds, alternated; figures are means')
    parser.add_argument('--json', action='store_true', help='print the summary as JSON')
    args = parser.parse_args(argv)

    from lpr_detector.config import DetectorConfig
    from lpr_detector.finder import PlateFinder
    finder = PlateFinder.from_config(DetectorConfig(model_path=args.model, threads=args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / 'clip_idle.mp4'
        clip_frames, idle_frames, fps = build_video(args.clip, args.idle_s, args.noise, video)
        finder.warm_up()
        runs = []
        for _ in range(args.rounds):
            runs += [play(video, clip_frames, fps, finder, gating=False),
                     play(video, clip_frames, fps, finder, gating=True)]
        gate_ms = gate_cost_ms(video)
    result = {'clip': Path(args.clip).name, 'fps': fps, 'clip_frames': clip_frames, 'idle_frames': idle_frames,
              'rounds': args.rounds, 'detector': finder.detector.name, 'gate_cpu_ms_per_frame': round(gate_ms, 2),
              'summary': summary(runs, fps)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['clip']}: {clip_frames} clip frames + {idle_frames} idle frames at {fps:g} fps, "
          f"{args.rounds} rounds, detector {result['detector']}, gate {gate_ms:.2f} ms CPU/frame")
    print(f"{'segment':8} {'video s':>8} | {'off: CPU s/min':>15} {'passed':>7} | {'on: CPU s/min':>14} "
          f"{'passed':>7} | {'on/off':>6}")
    for name in ('clip', 'idle', 'all'):
        off, on = result['summary'][f'off/{name}'], result['summary'][f'on/{name}']
        ratio = on['cpu_s_per_video_min'] / off['cpu_s_per_video_min'] if off['cpu_s_per_video_min'] else float('nan')
        print(f"{name:8} {off['video_s']:>8} | {off['cpu_s_per_video_min']:>15} {off['passed']:>7} | "
              f"{on['cpu_s_per_video_min']:>14} {on['passed']:>7} | {ratio:>6.2f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
