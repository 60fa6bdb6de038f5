"""Access lists kept centrally and pushed to the edges. Pure: no database, no network.

A list entry has the edge's fields (lpr_recorder.journal.AccessEntry): list
allow/deny/visitor, plate, cameras (empty = every camera), valid from/until
(open ends: None), note. Each entry belongs to one scope: every device
(``ALL`` = '') or one device (its name). Each scope has a version that rises
by one on every change.

On the wire a device sees two scopes, named relative to itself: ``all`` and
``device`` (its own). A push is the whole list of one scope:

    {"scope": "all" | "device", "version": 7, "entries": [{"list", "plate",
     "cameras": [...], "valid_from": ISO | null, "valid_until": ISO | null, "note"}]}

The edge applies a version newer than the one it holds and acknowledges
``lpr_lists_ack`` {"scope", "version", "status": "applied" | "error", "error"?}.
On connecting it sends ``lpr_lists_hello`` {"versions": {"all": n, "device": m}}
and is answered with the lists whose version differs from what it holds.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from lpr_common import times
from lpr_common.plate_text import compact

ALL = ''                                   # the scope of every device
WIRE_ALL, WIRE_DEVICE = 'all', 'device'
LISTS = ('allow', 'deny', 'visitor')
MAX_PLATE, MAX_NOTE, MAX_CAMERA = 32, 500, 64
CSV_COLUMNS = ('list', 'plate', 'cameras', 'valid_from', 'valid_until', 'note')
PUSH_EVENT, HELLO_EVENT, ACK_EVENT = 'lpr_lists', 'lpr_lists_hello', 'lpr_lists_ack'


@dataclass(frozen=True)
class Entry:
    list_name: str
    plate: str
    cameras: tuple[str, ...] = ()
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    note: str = ''


# -- checking what an administrator enters ------------------------------------------
def parse_time(text: str) -> dt.datetime | None:
    """ISO 8601 date or date-time ('' = open end); without a zone: UTC."""
    return times.parse_time(text, dt.timezone.utc)


def parse_cameras(text: str) -> tuple[str, ...]:
    """Camera ids separated by spaces, commas or semicolons."""
    cameras = tuple(c for c in (text or '').replace(',', ' ').replace(';', ' ').split() if c)
    if any(len(c) > MAX_CAMERA for c in cameras):
        raise ValueError(f'camera id longer than {MAX_CAMERA} characters')
    return cameras


def make_entry(list_name: str, plate: str, cameras: str = '', valid_from: str = '',
               valid_until: str = '', note: str = '') -> Entry:
    """An entry from CLI or CSV fields, or ValueError with the reason."""
    list_name = list_name.strip().lower()
    if list_name not in LISTS:
        raise ValueError(f'list must be one of {", ".join(LISTS)}, not {list_name[:20]!r}')
    compacted = compact(plate)
    if not compacted:
        raise ValueError('no plate (letters or digits) given')
    if len(compacted) > MAX_PLATE:
        raise ValueError(f'plate longer than {MAX_PLATE} characters')
    start, end = parse_time(valid_from), parse_time(valid_until)
    if start and end and end <= start:
        raise ValueError('valid_until is not after valid_from')
    return Entry(list_name, compacted, parse_cameras(cameras), start, end, note.strip()[:MAX_NOTE])


@dataclass
class ImportResult:
    entries: list[Entry] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)   # (line number, reason)


def parse_csv(text: str) -> ImportResult:
    """Entries from lines ``list,plate[,cameras,valid_from,valid_until,note]``
    (the edge's CSV import format; an optional header line). Bad lines are
    reported with their number and reason."""
    result = ImportResult()
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() == 'list':
            continue
        if not 2 <= len(row) <= len(CSV_COLUMNS):
            result.errors.append((number, f'{len(row)} field(s); expected 2 to {len(CSV_COLUMNS)}: '
                                          + ','.join(CSV_COLUMNS)))
            continue
        try:
            result.entries.append(make_entry(*row))
        except ValueError as exc:
            result.errors.append((number, str(exc)))
    return result


# -- scopes and versions --------------------------------------------------------------
def wire_scope(scope: str) -> str:
    """The name a device sees for ``scope`` (its own device scope is ``device``)."""
    return WIRE_ALL if scope == ALL else WIRE_DEVICE


def scopes_of(device: str) -> dict[str, str]:
    """The stored scopes a device receives, by wire name."""
    return {WIRE_ALL: ALL, WIRE_DEVICE: device}


def lacking(device: str, held: dict, current: dict[str, int]) -> list[str]:
    """The stored scopes whose version the device does not hold. ``held``: the
    device's {wire scope: version} (anything else counts as 0); ``current``:
    {stored scope: version}, 0 or absent for a scope never changed."""
    held = held if isinstance(held, dict) else {}
    stale = []
    for wire, scope in scopes_of(device).items():
        have = held.get(wire)
        have = have if isinstance(have, int) and not isinstance(have, bool) else 0
        if current.get(scope, 0) != have:
            stale.append(scope)
    return stale


def changed(before: dict[str, int], now: dict[str, int]) -> list[str]:
    """The scopes whose version differs between two readings."""
    return sorted(scope for scope, version in now.items() if before.get(scope) != version)


# -- the wire -----------------------------------------------------------------------
def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def entry_dict(e: Entry) -> dict:
    return {'list': e.list_name, 'plate': e.plate, 'cameras': list(e.cameras),
            'valid_from': _iso(e.valid_from), 'valid_until': _iso(e.valid_until), 'note': e.note}


def payload(scope: str, version: int, entries: list[Entry]) -> dict:
    """The push of one scope's whole list."""
    return {'scope': wire_scope(scope), 'version': version, 'entries': [entry_dict(e) for e in entries]}


@dataclass(frozen=True)
class Ack:
    scope: str          # the wire scope
    version: int
    error: str = ''     # '' = applied


def parse_ack(data) -> Ack | None:
    """An edge's ``lpr_lists_ack``, or None when malformed."""
    if not isinstance(data, dict) or data.get('scope') not in (WIRE_ALL, WIRE_DEVICE):
        return None
    version = data.get('version')
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        return None
    error = '' if data.get('status') == 'applied' else str(data.get('error') or 'not applied')[:500]
    return Ack(data['scope'], version, error)
