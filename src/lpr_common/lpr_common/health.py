"""Figures about the process and the box for /diagnostics: CPU and memory of
this process (every node reports its own), free disk and the SoC temperature
(the recorder reports them for the box)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

_THERMAL = Path('/sys/class/thermal')


class ProcessUsage:
    """CPU share of one core since the previous call, and resident memory."""

    def __init__(self):
        self._cpu, self._wall = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        t = os.times()
        return t.user + t.system, time.monotonic()

    def sample(self) -> dict[str, float]:
        cpu, wall = self._now()
        share = (cpu - self._cpu) / (wall - self._wall) * 100.0 if wall > self._wall else 0.0
        self._cpu, self._wall = cpu, wall
        return {'cpu_percent': round(share, 1), 'rss_mb': round(rss_mb(), 1)}


def rss_mb() -> float:
    try:
        pages = int(Path('/proc/self/statm').read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf('SC_PAGE_SIZE') / 1e6


def disk_free_gb(path: str | Path) -> float | None:
    """Free space of the partition holding ``path`` (its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return round(shutil.disk_usage(p).free / 1e9, 2)
    except OSError:
        return None


def temperature_c() -> float | None:
    """The hottest thermal zone (a Raspberry Pi's SoC), None where there is none."""
    temps = []
    for zone in _THERMAL.glob('thermal_zone*/temp'):
        try:
            temps.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None
