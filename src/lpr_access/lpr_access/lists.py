"""Access lists: which plates are allowed, denied or visitors, where and when.
Pure: ``match`` decides from the entries given to it (the web journal and the
access node share it; the journal's ``access_entries`` table holds the lists)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lpr_access.plates import Tolerance, matches_whole

ALLOW, DENY, VISITOR, UNKNOWN = 'allow', 'deny', 'visitor', 'unknown'
LISTS = (ALLOW, DENY, VISITOR)
# At equal distance the stricter list wins: a denied plate is never let in
# because it is also, one character off, on the allow list.
_PRECEDENCE = {DENY: 0, ALLOW: 1, VISITOR: 2}


@dataclass(frozen=True)
class Entry:
    list_name: str
    plate: str
    cameras: tuple[str, ...] = ()            # () = every camera
    valid_from: dt.datetime | None = None    # None = open end
    valid_until: dt.datetime | None = None
    note: str = ''
    id: int = 0

    def applies(self, camera: str, when: dt.datetime) -> bool:
        if self.cameras and camera not in self.cameras:
            return False
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_until is None or when < self.valid_until


@dataclass(frozen=True)
class Match:
    decision: str                   # allow / deny / visitor / unknown
    entry: Entry | None = None
    distance: int = 0               # edits between the read and the listed plate


def match(plate: str, camera: str, when: dt.datetime, entries, tol: Tolerance = Tolerance()) -> Match:
    """The decision for ``plate`` seen by ``camera`` at ``when``: the nearest
    entry in force there and then (exact before fuzzy; deny before allow
    before visitor at the same distance), else unknown."""
    best: tuple[int, int, Entry] | None = None
    for entry in entries:
        if not entry.applies(camera, when):
            continue
        d = matches_whole(entry.plate, plate, tol)
        if d is None:
            continue
        key = (d, _PRECEDENCE[entry.list_name], entry)
        if best is None or key[:2] < best[:2]:
            best = key
    if best is None:
        return Match(UNKNOWN)
    return Match(best[2].list_name, best[2], best[0])


def parse_cameras(text: str) -> tuple[str, ...]:
    """Camera ids separated by spaces, commas or semicolons."""
    return tuple(c for c in text.replace(',', ' ').replace(';', ' ').split() if c)


def load_entries(session) -> list[Entry]:
    """Every entry of the journal's ``access_entries`` table."""
    from sqlalchemy import select

    from lpr_recorder.journal import AccessEntry
    rows = session.scalars(select(AccessEntry).order_by(AccessEntry.list_name, AccessEntry.plate))
    return [Entry(r.list_name, r.plate, parse_cameras(r.cameras), r.valid_from, r.valid_until, r.note, r.id)
            for r in rows]
