"""Entry/exit pairing: where a site has entry and exit cameras, an exit event
closes the latest open entry of the same plate, and the visit's duration is
the time parked. Pure: events in, visits out.

Matching: exact plate first; else the nearest within the fuzzy tolerance
(glyph twins free, one edit by default), so a one-character misread at either
gate still pairs; at equal distance the latest entry wins. A second entry of
exactly the same plate closes the first as "exit not seen" (a car cannot be
inside twice). Entries older than ``max_stay`` never pair."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lpr_access.lists import parse_cameras
from lpr_access.plates import Tolerance, matches_whole
from lpr_common.plate_text import compact

ENTRY, EXIT = 'entry', 'exit'


@dataclass(frozen=True)
class Gates:
    """Which cameras watch the way in and which the way out (a web journal setting)."""
    entry: tuple[str, ...] = ()
    exit: tuple[str, ...] = ()
    max_stay: dt.timedelta = dt.timedelta(days=30)

    @classmethod
    def parse(cls, entry: str, exit_: str, max_stay_days: float = 30.0) -> 'Gates':
        gates = cls(parse_cameras(entry), parse_cameras(exit_), dt.timedelta(days=max_stay_days))
        both = set(gates.entry) & set(gates.exit)
        if both:
            raise ValueError(f'camera(s) both entry and exit: {" ".join(sorted(both))}')
        if bool(gates.entry) != bool(gates.exit):
            raise ValueError('pairing needs both entry and exit cameras')
        return gates

    @property
    def configured(self) -> bool:
        return bool(self.entry and self.exit)

    @property
    def cameras(self) -> tuple[str, ...]:
        return self.entry + self.exit

    def role(self, camera: str) -> str:
        return ENTRY if camera in self.entry else EXIT if camera in self.exit else ''


@dataclass(frozen=True)
class Passage:
    """One event at a gate, as the pairing needs it."""
    event_id: str
    camera: str
    plate: str            # the plate that counts (the operator's correction when there is one)
    when: dt.datetime


@dataclass
class Visit:
    entry: Passage | None = None
    exit: Passage | None = None
    exit_missed: bool = False     # a later entry of the same plate, or older than max_stay
    distance: int = 0             # edits between the entry's and the exit's plate

    @property
    def inside(self) -> bool:
        return self.entry is not None and self.exit is None and not self.exit_missed

    @property
    def duration(self) -> dt.timedelta | None:
        if self.entry is None or self.exit is None:
            return None
        return self.exit.when - self.entry.when

    def since_entry(self, now: dt.datetime) -> dt.timedelta | None:
        return now - self.entry.when if self.entry is not None else None


@dataclass
class Pairing:
    visits: list[Visit] = field(default_factory=list)
    by_event: dict[str, Visit] = field(default_factory=dict)   # entry and exit event ids -> their visit

    def inside(self, now: dt.datetime) -> list[Visit]:
        """Vehicles in now, longest first (entries older than max_stay are left out by ``pair``)."""
        return sorted((v for v in self.visits if v.inside and v.entry.when <= now), key=lambda v: v.entry.when)


def pair(passages, gates: Gates, tol: Tolerance = Tolerance(), now: dt.datetime | None = None) -> Pairing:
    """Pair the exits of ``passages`` (any order) with their entries."""
    result = Pairing()
    open_entries: list[Visit] = []
    for p in sorted(passages, key=lambda p: (p.when, p.event_id)):
        role = gates.role(p.camera)
        if not role:
            continue
        open_entries = _still_open(open_entries, p.when, gates.max_stay)
        if role == ENTRY:
            for v in open_entries:
                v.exit_missed = compact(v.entry.plate) == compact(p.plate)
            open_entries = [v for v in open_entries if not v.exit_missed]
            visit = Visit(entry=p)
            open_entries.append(visit)
            result.visits.append(visit)
        else:
            visit = _close(open_entries, p, tol)
            if visit is None:
                visit = Visit(exit=p)               # exit without a (recent) entry
                result.visits.append(visit)
            else:
                open_entries.remove(visit)
        result.by_event[p.event_id] = visit
    if now is not None:
        _still_open(open_entries, now, gates.max_stay)
    return result


def _still_open(open_entries: list[Visit], now: dt.datetime, max_stay: dt.timedelta) -> list[Visit]:
    """Entries older than ``max_stay`` are closed as "exit missed"; the others."""
    for v in open_entries:
        v.exit_missed = now - v.entry.when > max_stay
    return [v for v in open_entries if not v.exit_missed]


def _close(open_entries: list[Visit], exit_: Passage, tol: Tolerance) -> Visit | None:
    """The open entry this exit closes: the nearest plate (exact before a
    glyph twin at the same distance), then the latest entry."""
    best: tuple[tuple[int, int, float], Visit] | None = None
    for v in open_entries:
        exact = compact(v.entry.plate) == compact(exit_.plate)
        d = 0 if exact else matches_whole(v.entry.plate, exit_.plate, tol)
        if d is None:
            continue
        key = (d, not exact, -v.entry.when.timestamp())
        if best is None or key < best[0]:
            best = (key, v)
    if best is None:
        return None
    visit = best[1]
    visit.exit, visit.distance = exit_, best[0][0]
    return visit


def format_duration(value: dt.timedelta | None) -> str:
    """'2 d 3 h 04 min', '1 h 05 min', '12 min 30 s', '45 s'; '' for None."""
    if value is None:
        return ''
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f'{days} d {hours} h {minutes:02d} min'
    if hours:
        return f'{hours} h {minutes:02d} min'
    if minutes:
        return f'{minutes} min {secs:02d} s'
    return f'{secs} s'
