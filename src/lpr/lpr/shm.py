"""Fast DDS shared-memory segments left behind by processes that died.

A process that uses Fast DDS's shared-memory transport creates segments in
/dev/shm (``fastdds_<id>``, ``fastdds_port<N>``; ``fastrtps_*`` in older
releases), each with a ``<name>_el`` file that it keeps locked (flock) for as
long as it lives. A process killed with SIGKILL cannot remove them, and a
later run does not reuse them: ~36 MB per graph. A segment whose lock file can
be locked has no living owner; that is the rule Fast DDS's own
``fastdds shm clean`` uses. The runner removes such segments before it
starts its nodes (only ones older than a few seconds: a process that is just
creating a segment has not locked it yet) and after it stopped them (only
ones that appeared while it ran).
"""
from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

SHM_DIR = Path('/dev/shm')
_PREFIXES = ('fastdds_', 'fastrtps_')


@dataclass
class Cleaned:
    files: int = 0
    bytes: int = 0


def _owner_alive(lock_file: Path) -> bool:
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return True      # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def segment_names(shm_dir: Path = SHM_DIR) -> set[str]:
    try:
        return {p.name for p in shm_dir.iterdir() if p.name.startswith(_PREFIXES) and p.name.endswith('_el')}
    except OSError:
        return set()


def orphans(shm_dir: Path = SHM_DIR, older_than_s: float = 0.0, among: set[str] | None = None) -> list[Path]:
    """Files of segments whose owner is gone: the segment, its lock file and,
    for a port, its semaphore."""
    now = time.time()
    found = []
    for name in sorted(segment_names(shm_dir)):
        if among is not None and name not in among:
            continue
        lock = shm_dir / name
        try:
            if now - lock.stat().st_mtime < older_than_s:
                continue
        except OSError:
            continue
        if _owner_alive(lock):
            continue
        base = name[:-len('_el')]
        found += [p for p in (shm_dir / base, lock, shm_dir / f'sem.{base}_mutex') if p.exists()]
    return found


def clean(shm_dir: Path = SHM_DIR, older_than_s: float = 0.0, among: set[str] | None = None) -> Cleaned:
    """Remove the orphaned segments (see ``orphans``)."""
    out = Cleaned()
    for path in orphans(shm_dir, older_than_s, among):
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        out.files += 1
        out.bytes += size
    return out
