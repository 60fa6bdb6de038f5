"""Detector CPU per frame with and without a region of interest.

    python tools/roi_bench.py CLIP [--frames 60] [--roi '0,0.4 1,0.4 1,1 0,1'] [--rounds 2]

Runs the real plate finder (ONNX, one thread) over the clip's first frames,
whole frame against the region's bounding box, alternating rounds; prints
process CPU ms per frame and plates found.
"""
from __future__ import annotations

import argparse
import time

import cv2

from lpr_detector.config import DetectorConfig
from lpr_detector.finder import NO_GATE, PlateFinder
from lpr_detector.gating import Gates


def frames_of(clip: str, count: int) -> list:
    cap = cv2.VideoCapture(clip)
    out = []
    while len(out) < count:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    if not out:
        raise SystemExit(f'{clip}: no frames')
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('clip')
    ap.add_argument('--frames', type=int, default=60)
    ap.add_argument('--roi', default='0,0.4 1,0.4 1,1 0,1', help="polygon 'x,y x,y ...' in fractions of the frame")
    ap.add_argument('--rounds', type=int, default=2)
    args = ap.parse_args()
    frames = frames_of(args.clip, args.frames)
    finder = PlateFinder.from_config(DetectorConfig())
    finder.warm_up(frames[0].shape[1], frames[0].shape[0])
    gates = {'whole frame': NO_GATE, f'roi {args.roi}': Gates([args.roi]).for_camera('bench')}
    totals = {name: [0.0, 0] for name in gates}
    for _ in range(args.rounds):
        for name, gate in gates.items():
            start = time.process_time()
            plates = sum(len(finder.find(f, gate)) for f in frames)
            totals[name][0] += time.process_time() - start
            totals[name][1] += plates
    h, w = frames[0].shape[:2]
    print(f'{len(frames)} frames {w}x{h}, {args.rounds} rounds')
    for name, (cpu, plates) in totals.items():
        print(f'{name:<40} {1000 * cpu / (len(frames) * args.rounds):6.1f} ms CPU/frame  '
              f'{plates // args.rounds} plates')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
