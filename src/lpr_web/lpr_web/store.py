"""What the web pages read and write in the edge journal (SQLAlchemy,
the recorder's models), and the image files beside it."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from lpr_access.lists import load_entries
from lpr_recorder.health_rows import STALE_AFTER_S, box_figures, node_view, worst_level
from lpr_recorder.health_store import read_rows
from lpr_recorder.journal import AccessEntry, BarrierRequest, DeadLetter, Event, Journal, PlateCorrection, WebUser
from lpr_access import lists
from lpr_access.manual import request_row
from lpr_web import access
from lpr_web.auth import hash_password
from lpr_web.visits import Gates, Pairing, Passage, Visit, pair
from lpr_access.plates import Tolerance, matches_partial

UTC = dt.timezone.utc
# created_by of the entries lpr-server pushes (lpr_bridge.lists_sync.ORIGIN): read-only here
SERVER_ORIGIN = 'lpr-server/'
MAX_SCAN = 200_000   # rows a search looks at, newest first


@dataclass
class EventView:
    """An event as the pages show it: the row, the operator's correction, the decision."""
    row: Event
    corrected: str = ''
    decision: lists.Match = field(default_factory=lambda: lists.Match(lists.UNKNOWN))

    @property
    def plate(self) -> str:
        """The plate that counts: the correction when there is one."""
        return self.corrected or self.row.plate


@dataclass(frozen=True)
class SearchQuery:
    text: str = ''
    camera: str = ''
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    direction: str = ''
    decision: str = ''
    limit: int = 200


class WebStore:
    def __init__(self, journal_url: str, image_dir: str | Path, tolerance: Tolerance = Tolerance(),
                 gates: Gates = Gates(), stale_after_s: float = STALE_AFTER_S):
        self.journal = Journal(journal_url)       # migrates to the newest revision
        self._sessions = sessionmaker(self.journal.engine, expire_on_commit=False)
        self.image_dir = Path(image_dir).expanduser().resolve()
        self.tolerance = tolerance
        self.gates = gates
        self.stale_after_s = stale_after_s      # a node's status older than this shows as stale

    def close(self) -> None:
        self.journal.close()

    # -- users ------------------------------------------------------------------------
    def set_user(self, name: str, password: str) -> bool:
        """Add a user or change a password; True when the user is new."""
        name = name.strip()
        if not name or len(name) > 64:
            raise ValueError('user name must be 1 to 64 characters')
        if name.startswith(SERVER_ORIGIN):
            raise ValueError(f'user names starting with {SERVER_ORIGIN!r} are reserved (server list entries)')
        hashed = hash_password(password)
        with self._sessions.begin() as s:
            user = s.scalar(select(WebUser).where(WebUser.name == name))
            if user is not None:
                user.password_hash = hashed
                return False
            s.add(WebUser(name=name, password_hash=hashed, created_at=dt.datetime.now(UTC)))
            return True

    def password_hash(self, name: str) -> str | None:
        with self._sessions() as s:
            return s.scalar(select(WebUser.password_hash).where(WebUser.name == name))

    def user_count(self) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(func.count(WebUser.id))))

    # -- events -----------------------------------------------------------------------
    def latest(self, limit: int = 50, after_id: int = 0) -> list[EventView]:
        with self._sessions() as s:
            rows = s.scalars(select(Event).where(Event.id > after_id).order_by(Event.id.desc()).limit(limit))
            return self._views(s, list(rows))

    def event(self, event_id: str) -> EventView | None:
        with self._sessions() as s:
            row = s.scalar(select(Event).where(Event.event_id == event_id))
            return self._views(s, [row])[0] if row else None

    def search(self, q: SearchQuery) -> list[EventView]:
        """Newest first: SQL filters, then the fuzzy plate and the decision."""
        stmt = select(Event).order_by(Event.id.desc()).limit(MAX_SCAN)
        if q.camera:
            stmt = stmt.where(Event.camera_id == q.camera)
        if q.direction:
            stmt = stmt.where(Event.direction == q.direction)
        if q.since:
            stmt = stmt.where(Event.best_seen >= q.since)
        if q.until:
            stmt = stmt.where(Event.best_seen < q.until)
        found: list[EventView] = []
        with self._sessions() as s:
            corrected, entries = self._corrections(s), self.entries(s)
            for row in s.scalars(stmt.execution_options(yield_per=500)):
                view = self._view(row, corrected, entries)
                if q.text and not any(matches_partial(q.text, p, self.tolerance)
                                      for p in {row.plate, view.corrected} if p):
                    continue
                if q.decision and view.decision.decision != q.decision:
                    continue
                found.append(view)
                if len(found) >= q.limit:
                    break
        return found

    def cameras(self) -> list[str]:
        with self._sessions() as s:
            return list(s.scalars(select(Event.camera_id).distinct().order_by(Event.camera_id)))

    def _views(self, s, rows: list[Event]) -> list[EventView]:
        ids = [r.event_id for r in rows]
        corrected = self._corrections(s, ids) if ids else {}
        entries = self.entries(s)
        return [self._view(r, corrected, entries) for r in rows]

    def _view(self, row: Event, corrected: dict[str, str], entries) -> EventView:
        view = EventView(row, corrected.get(row.event_id, ''))
        view.decision = lists.match(view.plate, row.camera_id, row.best_seen, entries, self.tolerance)
        return view

    # -- corrections -------------------------------------------------------------------
    @staticmethod
    def _corrections(s, event_ids=None) -> dict[str, str]:
        """The newest correction per event."""
        stmt = select(PlateCorrection.event_id, PlateCorrection.plate).order_by(PlateCorrection.id)
        if event_ids is not None:
            stmt = stmt.where(PlateCorrection.event_id.in_(event_ids))
        return {event_id: plate for event_id, plate in s.execute(stmt)}

    def correct(self, event_id: str, plate: str, by: str, note: str = '') -> PlateCorrection:
        """Keep the operator's reading beside the original (ValueError if bad)."""
        plate = access.check_plate(plate)
        with self._sessions.begin() as s:
            original = s.scalar(select(Event.plate).where(Event.event_id == event_id))
            if original is None:
                raise LookupError(f'no event {event_id}')
            row = PlateCorrection(event_id=event_id, original_plate=original, plate=plate, corrected_by=by,
                                  note=note.strip()[:500], created_at=dt.datetime.now(UTC))
            s.add(row)
        return row

    def corrections(self, event_id: str) -> list[PlateCorrection]:
        with self._sessions() as s:
            return list(s.scalars(select(PlateCorrection).where(PlateCorrection.event_id == event_id)
                                  .order_by(PlateCorrection.id.desc())))

    # -- access lists --------------------------------------------------------------------
    def entries(self, s=None) -> list[lists.Entry]:
        if s is None:
            with self._sessions() as s:
                return self.entries(s)
        return load_entries(s)

    def add_entries(self, entries: list[lists.Entry], by: str) -> None:
        now = dt.datetime.now(UTC)
        with self._sessions.begin() as s:
            s.add_all(AccessEntry(list_name=e.list_name, plate=e.plate, cameras=' '.join(e.cameras),
                                  valid_from=e.valid_from, valid_until=e.valid_until, note=e.note,
                                  created_by=by, created_at=now) for e in entries)

    def server_entry_ids(self) -> set[int]:
        """The entries lpr-server pushed: shown, never edited here (the next push replaces them)."""
        with self._sessions() as s:
            return set(s.scalars(select(AccessEntry.id).where(AccessEntry.created_by.startswith(SERVER_ORIGIN))))

    def delete_entry(self, entry_id: int) -> None:
        """Delete an operator's entry; PermissionError for a server entry."""
        with self._sessions.begin() as s:
            by = s.scalar(select(AccessEntry.created_by).where(AccessEntry.id == entry_id))
            if by is not None and by.startswith(SERVER_ORIGIN):
                raise PermissionError('this entry comes from the central server: change it there (lpr-server list)')
            s.execute(delete(AccessEntry).where(AccessEntry.id == entry_id))

    # -- manual barrier opens ------------------------------------------------------------
    def request_open(self, by: str, camera: str = '', reason: str = '', event_id: str = '') -> BarrierRequest:
        """An operator's "Open barrier": a pending request the access node executes
        (or expires). From an event: its camera (unless one is given) and plate."""
        camera, event_id = camera.strip(), event_id.strip()
        if len(camera) > 64:
            raise ValueError('camera id longer than 64 characters')
        plate = ''
        if event_id:
            view = self.event(event_id)
            if view is None:
                raise LookupError(f'no event {event_id}')
            camera, plate = camera or view.row.camera_id, view.plate[:32]
        row = request_row(camera, by, reason.strip()[:500], event_id, plate)
        with self._sessions.begin() as s:
            s.add(row)
        return row

    def barrier_requests(self, limit: int = 100, event_id: str = '') -> list[BarrierRequest]:
        """The audit trail, newest first."""
        stmt = select(BarrierRequest).order_by(BarrierRequest.id.desc()).limit(limit)
        if event_id:
            stmt = stmt.where(BarrierRequest.event_id == event_id)
        with self._sessions() as s:
            return list(s.scalars(stmt))

    # -- entry/exit pairing --------------------------------------------------------------
    def pairing(self, views: list[EventView]) -> Pairing:
        """Entries and exits around these events, paired (empty without gates)."""
        times = [v.row.best_seen for v in views if self.gates.role(v.row.camera_id)]
        if not self.gates.configured or not times:
            return Pairing()
        stay = self.gates.max_stay
        return pair(self._passages(min(times) - stay, max(times) + stay), self.gates, self.tolerance)

    def presence(self, now: dt.datetime, recent: int = 20) -> tuple[list[Visit], list[Visit]]:
        """Vehicles inside now (longest first) and the latest completed visits."""
        if not self.gates.configured:
            return [], []
        pairing = pair(self._passages(now - self.gates.max_stay, now), self.gates, self.tolerance, now)
        done = sorted((v for v in pairing.visits if v.duration is not None), key=lambda v: v.exit.when,
                      reverse=True)
        return pairing.inside(now), done[:recent]

    def _passages(self, since: dt.datetime, until: dt.datetime) -> list[Passage]:
        """The gate cameras' events in [since, until], newest MAX_SCAN, plates as corrected."""
        stmt = (select(Event.event_id, Event.camera_id, Event.plate, Event.best_seen)
                .where(Event.camera_id.in_(self.gates.cameras), Event.best_seen >= since, Event.best_seen <= until)
                .order_by(Event.best_seen.desc()).limit(MAX_SCAN))
        with self._sessions() as s:
            rows = s.execute(stmt).all()
            corrected = self._corrections(s) if rows else {}
        return [Passage(e, camera, corrected.get(e) or plate, when) for e, camera, plate, when in rows]

    # -- images ------------------------------------------------------------------------
    def image_file(self, relative: str) -> Path:
        """An image of the journal; LookupError for anything outside the image
        directory (``..``, absolute paths, links pointing out) or missing."""
        if not relative or '\x00' in relative:
            raise LookupError('no image')
        path = (self.image_dir / relative).resolve()
        if not path.is_relative_to(self.image_dir) or not path.is_file():
            raise LookupError('no such image')
        return path

    # -- health --------------------------------------------------------------------------
    def health(self) -> dict:
        with self._sessions() as s:
            counts = s.execute(select(Event.upload_state, func.count(Event.id)).group_by(Event.upload_state))
            states = {state: n for state, n in counts}
            newest = s.scalar(select(func.max(Event.best_seen)))
            letters = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(10)))
            dead = int(s.scalar(select(func.count(DeadLetter.id))))
            corrections = int(s.scalar(select(func.count(PlateCorrection.id))))
            rows = read_rows(s)
        now = dt.datetime.now(UTC)
        nodes = [node_view(r, now, self.stale_after_s) for r in rows]
        return {'nodes': nodes, 'worst': worst_level(nodes), 'box': box_figures(rows),
                'stale_after_s': self.stale_after_s,'journal': make_url(self.journal.url).render_as_string(hide_password=True),
                'events': sum(states.values()), 'upload_states': states, 'newest_event': newest,
                'dead_letters': dead, 'latest_dead_letters': letters, 'corrections': corrections,
                'image_dir': str(self.image_dir), 'disk': _disk(self.image_dir)}


def _disk(path: Path) -> dict:
    """Free space of the partition holding ``path`` (or its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return {'free_gb': usage.free / 1e9, 'total_gb': usage.total / 1e9,
            'free_percent': 100.0 * usage.free / usage.total if usage.total else 0.0}
