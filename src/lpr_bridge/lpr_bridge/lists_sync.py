"""Access lists pushed by lpr-server, applied to the edge journal's
``access_entries`` (the table the web journal edits and the access node reads).

The server sends one scope's whole list at a time (lpr_server.lists):

    {"scope": "all" | "device", "version": 7, "entries": [{"list", "plate",
     "cameras": [...], "valid_from": ISO | null, "valid_until": ISO | null, "note"}]}

Server entries are the rows whose ``created_by`` is ``lpr-server/<scope>/v<version>``
(no schema change: an operator's rows carry the operator's name, and the web
journal refuses user names with that prefix). Applying a version replaces that
scope's server rows in one transaction; the operator's own rows are never
touched. A version not newer than the one held is ignored; a bad payload is
refused whole, with the reason, and nothing of it is written.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from lpr_common.plate_text import compact
from lpr_recorder.journal import AccessEntry

ORIGIN = 'lpr-server/'                       # created_by prefix of the server's entries
SCOPES = ('all', 'device')                   # every device's list, this device's own
LISTS = ('allow', 'deny', 'visitor')
PUSH_EVENT, HELLO_EVENT, ACK_EVENT = 'lpr_lists', 'lpr_lists_hello', 'lpr_lists_ack'
MAX_ENTRIES, MAX_PLATE, MAX_CAMERA, MAX_NOTE = 200_000, 32, 64, 500
APPLIED, CURRENT, REFUSED = 'applied', 'current', 'refused'
_ORIGIN_RE = re.compile(r'^lpr-server/(all|device)/v(\d+)$')
UTC = dt.timezone.utc


class ListsRefused(ValueError):
    """A payload that is not a valid list (the reason is the message)."""


@dataclass(frozen=True)
class ListUpdate:
    scope: str
    version: int
    rows: tuple[dict, ...]       # AccessEntry column values, checked


@dataclass(frozen=True)
class Outcome:
    scope: str
    version: int                 # the version held after this push
    status: str                  # applied / current (older or same version: ignored) / refused
    error: str = ''

    def ack(self) -> dict:
        """What the edge answers the server (``lpr_lists_ack``)."""
        if self.status == REFUSED:
            return {'scope': self.scope, 'version': self.version, 'status': 'error', 'error': self.error}
        return {'scope': self.scope, 'version': self.version, 'status': 'applied'}


def origin(scope: str, version: int) -> str:
    return f'{ORIGIN}{scope}/v{version}'


def parse_origin(created_by: str) -> tuple[str, int] | None:
    """(scope, version) of a server entry's ``created_by``; None for an operator's."""
    found = _ORIGIN_RE.match(created_by or '')
    return (found[1], int(found[2])) if found else None


# -- checking a payload ----------------------------------------------------------
def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _time(value, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ListsRefused(f'{where}: a time must be an ISO 8601 string or null')
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ListsRefused(f'{where}: not an ISO 8601 time: {value[:40]!r}') from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cameras(value, where: str) -> str:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ListsRefused(f'{where}: cameras must be a list of camera ids')
    if any(not c or len(c) > MAX_CAMERA or c != ''.join(c.split()) for c in value):
        raise ListsRefused(f'{where}: a camera id is empty, has spaces or is over {MAX_CAMERA} characters')
    return ' '.join(value)


def _row(item, number: int) -> dict:
    where = f'entry {number}'
    if not isinstance(item, dict):
        raise ListsRefused(f'{where}: not an object')
    if item.get('list') not in LISTS:
        raise ListsRefused(f'{where}: list must be one of {", ".join(LISTS)}')
    plate = compact(item['plate']) if isinstance(item.get('plate'), str) else ''
    if not plate or len(plate) > MAX_PLATE:
        raise ListsRefused(f'{where}: plate missing or over {MAX_PLATE} characters')
    start, end = _time(item.get('valid_from'), where), _time(item.get('valid_until'), where)
    if start and end and end <= start:
        raise ListsRefused(f'{where}: valid_until is not after valid_from')
    note = item.get('note', '')
    if not isinstance(note, str):
        raise ListsRefused(f'{where}: note must be text')
    return {'list_name': item['list'], 'plate': plate, 'cameras': _cameras(item.get('cameras', []), where),
            'valid_from': start, 'valid_until': end, 'note': note[:MAX_NOTE]}


def parse_update(payload) -> ListUpdate:
    """A checked push, or ListsRefused with the reason (the whole push then)."""
    if not isinstance(payload, dict):
        raise ListsRefused('the list push is not an object')
    scope, version, entries = payload.get('scope'), payload.get('version'), payload.get('entries')
    if scope not in SCOPES:
        raise ListsRefused(f'unknown list scope {str(scope)[:20]!r}')
    if not _int(version) or version < 1:
        raise ListsRefused('version must be a positive integer')
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise ListsRefused(f'entries must be a list of at most {MAX_ENTRIES}')
    return ListUpdate(scope, version, tuple(_row(item, n) for n, item in enumerate(entries, 1)))


# -- the journal -------------------------------------------------------------------
def held_versions(session) -> dict[str, int]:
    """{scope: version} of the server entries in the journal."""
    held: dict[str, int] = {}
    rows = session.scalars(select(AccessEntry.created_by).where(AccessEntry.created_by.startswith(ORIGIN))
                           .distinct())
    for scope, version in filter(None, map(parse_origin, rows)):
        held[scope] = max(version, held.get(scope, 0))
    return held


def replace_scope(session, update: ListUpdate, now: dt.datetime) -> None:
    """The scope's server rows become ``update``'s (the caller's transaction)."""
    session.execute(delete(AccessEntry).where(AccessEntry.created_by.startswith(f'{ORIGIN}{update.scope}/',
                                                                                autoescape=True)))
    by = origin(update.scope, update.version)
    session.add_all(AccessEntry(**row, created_by=by, created_at=now) for row in update.rows)


class ListsSync:
    """Applies pushes to a journal (``lpr_recorder.journal.Journal``); thread-safe."""

    def __init__(self, journal):
        self._sessions = sessionmaker(journal.engine, expire_on_commit=False)
        self._lock = threading.Lock()
        # An emptied list leaves no row to hold its version: remember it here too.
        self._seen: dict[str, int] = {}

    def versions(self) -> dict[str, int]:
        """What this edge holds, for the hello: {scope: version} (0 = nothing)."""
        with self._lock:
            try:
                with self._sessions() as s:
                    return self._versions(s)
            except SQLAlchemyError:     # journal busy: the server then resends, apply() sorts it out
                return {scope: self._seen.get(scope, 0) for scope in SCOPES}

    def _versions(self, s) -> dict[str, int]:
        held = held_versions(s)
        return {scope: max(held.get(scope, 0), self._seen.get(scope, 0)) for scope in SCOPES}

    def apply(self, payload) -> Outcome:
        try:
            update = parse_update(payload)
        except ListsRefused as exc:
            scope, version = (payload.get('scope'), payload.get('version')) if isinstance(payload, dict) else ('', 0)
            return Outcome(scope if scope in SCOPES else '', version if _int(version) and version > 0 else 0,
                           REFUSED, str(exc))
        with self._lock:
            try:
                with self._sessions.begin() as s:
                    held = self._versions(s)[update.scope]
                    if update.version <= held:
                        return Outcome(update.scope, held, CURRENT)
                    replace_scope(s, update, dt.datetime.now(UTC))
            except SQLAlchemyError as exc:
                reason = str(getattr(exc, 'orig', None) or exc).splitlines()[0]
                return Outcome(update.scope, 0, REFUSED, f'journal: {reason}'[:500])
            self._seen[update.scope] = update.version
        return Outcome(update.scope, update.version, APPLIED)
