"""Decided events that cannot be written yet, kept on disk instead of dropped.

While the journal or the image store refuses writes for a while (a PostgreSQL
server down, a locked database, a directory gone read-only), decided events
wait in the recorder's RAM queue. When that queue is full, or the node stops
while writes still fail, each further event is spilled here: one file per
event, written atomically (temporary name, fsync, rename, directory fsync), so
a power cut leaves either the whole event or nothing. When writes work again
the recorder commits the spooled events, oldest first, and removes each file
after its row is committed. An event whose row is already in the journal (a
crash between the commit and the removal) is removed without a second row.

File format: NumPy ``.npz`` without pickles: ``meta`` (UTF-8 JSON of the
decision), ``frame`` (the frame's JPEG bytes) and ``crop`` (the BGR plate
crop); missing images are absent arrays. A file that cannot be read back is
renamed ``*.bad`` (kept for a person to look at), counted and skipped.
"""
from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from lpr_recorder.passes import Decision, Observation
from lpr_recorder.writer import Evidence

SUFFIX = '.npz'


class SpoolError(RuntimeError):
    """A spooled event that cannot be written or read back."""


class Spool:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.bad = 0   # files found unreadable (renamed *.bad)

    def __len__(self) -> int:
        return len(self.paths())

    def paths(self) -> list[Path]:
        """Spooled events, oldest first (names start with the spooling time)."""
        return sorted(p for p in self.root.iterdir() if p.name.endswith(SUFFIX))

    def put(self, d: Decision) -> Path:
        """Write ``d`` durably; raises SpoolError (e.g. the disk is full)."""
        path = self.root / f'{time.time_ns():020d}-{d.event_id}{SUFFIX}'
        tmp = path.with_name(f'.{path.name}.tmp')
        try:
            with open(tmp, 'wb') as fh:
                np.savez(fh, **_arrays(d))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(self.root)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise SpoolError(f'cannot spool event {d.event_id}: {exc}') from None
        return path

    def load(self, path: Path) -> Decision:
        """The decision in ``path``; an unreadable file is renamed ``*.bad`` and raises SpoolError."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return _decision({k: data[k] for k in data.files})
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            self.bad += 1
            try:
                path.rename(path.with_name(path.name + '.bad'))
            except OSError:
                pass
            raise SpoolError(f'spooled event {path.name} unreadable, kept as .bad: {exc}') from None

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_dir(self.root)


def _arrays(d: Decision) -> dict[str, np.ndarray]:
    evidence: Evidence | None = d.best.payload
    meta = asdict(replace(d, best=replace(d.best, payload=None)))
    meta['best']['frame_seq'] = evidence.frame_seq if evidence is not None else 0
    meta['best']['vehicle_box'] = list(evidence.vehicle_box) if evidence is not None and evidence.vehicle_box else None
    out = {'meta': np.frombuffer(json.dumps(meta).encode('utf-8'), np.uint8)}
    if evidence is not None and evidence.frame_jpeg:
        out['frame'] = np.frombuffer(evidence.frame_jpeg, np.uint8)
    if evidence is not None and evidence.plate_crop is not None:
        out['crop'] = np.ascontiguousarray(evidence.plate_crop)
    return out


def _decision(arrays: dict[str, np.ndarray]) -> Decision:
    meta = json.loads(arrays['meta'].tobytes().decode('utf-8'))
    best = dict(meta.pop('best'))
    best.pop('payload', None)
    frame_seq = int(best.pop('frame_seq', 0))
    vehicle_box = best.pop('vehicle_box', None)
    frame = arrays['frame'].tobytes() if 'frame' in arrays else None
    crop = arrays.get('crop')
    payload = Evidence(frame, crop, frame_seq, tuple(vehicle_box) if vehicle_box else None) \
        if frame is not None or crop is not None else None
    best['box'] = tuple(best['box'])
    best['char_confidences'] = tuple(best['char_confidences'])
    meta['candidates'] = tuple((str(t), float(c)) for t, c in meta['candidates'])
    return Decision(best=Observation(**best, payload=payload), **meta)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

