"""Access lists as the operator edits them: ``parse_csv`` checks an import
line by line. The lists and ``match`` live in lpr_access.lists (the access
node decides with them too)."""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from lpr_access.lists import LISTS, Entry, parse_cameras
from lpr_common import times
from lpr_common.plate_text import compact

MAX_PLATE = 32
CSV_COLUMNS = ('list', 'plate', 'cameras', 'valid_from', 'valid_until', 'note')


# -- checking what an operator enters --------------------------------------------
def check_plate(text: str) -> str:
    """The plate as stored (compact), or ValueError with the reason."""
    plate = compact(text)
    if not plate:
        raise ValueError('no plate (letters or digits) given')
    if len(plate) > MAX_PLATE:
        raise ValueError(f'plate longer than {MAX_PLATE} characters')
    return plate


def parse_time(text: str, local_zone: dt.tzinfo | None = None) -> dt.datetime | None:
    """ISO 8601 date or date-time; without a zone, in ``local_zone`` (the
    server's own by default); '' = open end."""
    return times.parse_time(text, local_zone)


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
