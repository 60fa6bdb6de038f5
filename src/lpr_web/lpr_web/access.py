"""Access lists: which plates are allowed, denied or visitors, where and
when. Pure: ``match`` decides from entries given to it; ``parse_csv`` checks
an import line by line."""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from lpr_common.plate_text import compact
from lpr_web.plates import Tolerance, matches_whole

ALLOW, DENY, VISITOR, UNKNOWN = 'allow', 'deny', 'visitor', 'unknown'
LISTS = (ALLOW, DENY, VISITOR)
# At equal distance the stricter list wins: a denied plate is never let in
# because it is also, one character off, on the allow list.
_PRECEDENCE = {DENY: 0, ALLOW: 1, VISITOR: 2}
MAX_PLATE = 32
CSV_COLUMNS = ('list', 'plate', 'cameras', 'valid_from', 'valid_until', 'note')


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


# -- checking what an operator enters --------------------------------------------
def check_plate(text: str) -> str:
    """The plate as stored (compact), or ValueError with the reason."""
    plate = compact(text)
    if not plate:
        raise ValueError('no plate (letters or digits) given')
    if len(plate) > MAX_PLATE:
        raise ValueError(f'plate longer than {MAX_PLATE} characters')
    return plate


def parse_cameras(text: str) -> tuple[str, ...]:
    """Camera ids separated by spaces, commas or semicolons."""
    return tuple(c for c in text.replace(',', ' ').replace(';', ' ').split() if c)


def parse_time(text: str, local_zone: dt.tzinfo | None = None) -> dt.datetime | None:
    """ISO 8601 date or date-time; without a zone, in ``local_zone`` (the
    server's own by default); '' = open end."""
    text = text.strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'not a date/time (ISO 8601 wanted): {text[:40]!r}') from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_zone) if local_zone else value.astimezone()
    return value


def make_entry(list_name: str, plate: str, cameras: str = '', valid_from: str = '',
               valid_until: str = '', note: str = '', local_zone: dt.tzinfo | None = None) -> Entry:
    """An entry from form or CSV fields, or ValueError with the reason."""
    list_name = list_name.strip().lower()
    if list_name not in LISTS:
        raise ValueError(f'list must be one of {", ".join(LISTS)}, not {list_name[:20]!r}')
    start, end = parse_time(valid_from, local_zone), parse_time(valid_until, local_zone)
    if start and end and end <= start:
        raise ValueError('valid_until is not after valid_from')
    return Entry(list_name, check_plate(plate), parse_cameras(cameras), start, end, note.strip()[:500])


@dataclass
class ImportResult:
    entries: list[Entry] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)   # (line number, reason)


def parse_csv(text: str, local_zone: dt.tzinfo | None = None) -> ImportResult:
    """Entries from CSV lines ``list,plate[,cameras,valid_from,valid_until,note]``
    (an optional header line naming these columns). Each bad line is refused
    with its number and reason; the good ones are kept."""
    result = ImportResult()
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() == 'list':
            continue   # the header
        if len(row) < 2 or len(row) > len(CSV_COLUMNS):
            result.errors.append((number, f'{len(row)} field(s); expected 2 to {len(CSV_COLUMNS)}: '
                                          + ','.join(CSV_COLUMNS)))
            continue
        try:
            result.entries.append(make_entry(*row, local_zone=local_zone))
        except ValueError as exc:
            result.errors.append((number, str(exc)))
    return result
