"""The event journal: SQLAlchemy 2.x models on SQLite (WAL, synchronous=FULL)
or any database SQLAlchemy speaks (PostgreSQL). Shared by the recorder, which
writes events, and the bridge, which uploads them and marks them sent."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError, TimeoutError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from lpr_common.db import UtcDateTime

PENDING, SENT = 'pending', 'sent'
REJECTED = 'rejected'         # written by bridges before server refusals became dead letters
DEAD_LETTER = 'dead_letter'   # refused by the server, or given up after the attempt limit; the reason is in upload_error


class JournalError(RuntimeError):
    """The journal cannot be opened or written. ``permanent``: this row can
    never be written (a constraint, bad data), as opposed to a locked or full
    database that a retry may get past."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _is_transient(exc: SQLAlchemyError) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, TimeoutError))


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = 'events'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    site_id: Mapped[str] = mapped_column(String(64), default='')
    plate: Mapped[str] = mapped_column(String(32), index=True)
    region: Mapped[str] = mapped_column(String(8), default='')
    plate_format: Mapped[str] = mapped_column(String(32), default='')
    confidence: Mapped[float] = mapped_column(Float)
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    read_count: Mapped[int] = mapped_column(Integer, default=0)
    direction: Mapped[str] = mapped_column(String(16), default='')
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    best_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    frame_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    box: Mapped[list] = mapped_column(JSON, default=list)      # [x, y, w, h] in frame pixels
    frame_path: Mapped[str] = mapped_column(Text, default='')  # relative to the image dir
    plate_path: Mapped[str] = mapped_column(Text, default='')
    vehicle_path: Mapped[str] = mapped_column(Text, default='')
    processed_path: Mapped[str] = mapped_column(Text, default='', server_default='')  # rectified crop
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)    # camera position, when configured
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    upload_state: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    upload_attempts: Mapped[int] = mapped_column(Integer, default=0)
    upload_error: Mapped[str] = mapped_column(Text, default='')
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)



class DeadLetter(Base):
    """An event the journal refused for good (constraint, bad data), with the reason."""
    __tablename__ = 'dead_letters'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    camera_id: Mapped[str] = mapped_column(Text, default='')
    plate: Mapped[str] = mapped_column(Text, default='')
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA synchronous=FULL')   # a committed event survives a power cut
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.close()


def open_engine(url: str, busy_timeout_s: float = 10.0) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or any SQLAlchemy URL), schema created."""
    try:
        if url.startswith('sqlite:///'):
            path = Path(url[len('sqlite:///'):])
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={'timeout': busy_timeout_s})
            event.listen(engine, 'connect', _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _create_schema(engine)
        return engine
    except (SQLAlchemyError, OSError) as exc:
        raise JournalError(f'cannot open journal {url}: {_short(exc)}') from None


def _create_schema(engine: Engine, attempts: int = 5) -> None:
    """Bring the schema to the newest Alembic revision. The recorder and the
    bridge may both start on a fresh database: the loser of that race sees
    'already exists' and retries (by then the schema is current)."""
    for attempt in range(attempts):
        try:
            migrate(engine)
            return
        except OperationalError as exc:
            if 'already exists' not in str(exc) or attempt == attempts - 1:
                raise


def migrate(engine: Engine, revision: str = 'head') -> None:
    """Alembic upgrade on ``engine`` (migrations ship inside this package)."""
    from alembic import command
    from alembic.config import Config
    config = Config()
    config.set_main_option('script_location', 'lpr_recorder:migrations')
    with engine.begin() as connection:
        if connection.dialect.name == 'sqlite':
            # The sqlite3 module runs DDL outside any transaction: without this
            # BEGIN, a crash mid-migration left tables without their version
            # stamp, and no later start could open the journal ('already exists').
            # IMMEDIATE: a second process migrating at the same time waits for
            # this one, then finds the schema current.
            connection.exec_driver_sql('BEGIN IMMEDIATE')
        config.attributes['connection'] = connection
        if _created_before_migrations(connection):
            command.stamp(config, '0001')   # its schema is revision 0001's
        command.upgrade(config, revision)


def _created_before_migrations(connection) -> bool:
    """A journal made by an early build (create_all): the events table, no version."""
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect
    return (MigrationContext.configure(connection).get_current_revision() is None
            and inspect(connection).has_table('events'))


def sqlite_url(path: str | Path) -> str:
    return f'sqlite:///{Path(path)}'


class Journal:
    def __init__(self, url: str):
        self.url = url
        self.engine = open_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def add(self, row: Event) -> Event:
        """Commit one event; idempotent by event_id (a retry returns the stored row)."""
        try:
            with self._sessions.begin() as s:
                existing = s.scalar(select(Event).where(Event.event_id == row.event_id))
                if existing is not None:
                    return existing
                s.add(row)
            return row
        except SQLAlchemyError as exc:
            raise JournalError(f'cannot write event {row.event_id}: {_short(exc)}',
                               permanent=not _is_transient(exc)) from None
        except (ValueError, TypeError) as exc:   # a value no column can take
            raise JournalError(f'cannot write event {row.event_id}: {exc}', permanent=True) from None

    def dead_letter(self, event_id: str, camera_id: str, plate: str, reason: str, detail: dict) -> None:
        """Keep an event the journal refused for good, with the reason."""
        letter = DeadLetter(event_id=event_id[:36], camera_id=camera_id, plate=plate, reason=reason,
                            detail=detail, created_at=dt.datetime.now(dt.timezone.utc))
        try:
            with self._sessions.begin() as s:
                s.add(letter)
        except SQLAlchemyError as exc:
            raise JournalError(f'cannot write dead letter {event_id}: {_short(exc)}',
                               permanent=not _is_transient(exc)) from None

    def dead_letters(self, limit: int = 100) -> list['DeadLetter']:
        with self._sessions() as s:
            return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))

    def has(self, event_id: str) -> bool:
        with self._sessions() as s:
            return s.scalar(select(Event.id).where(Event.event_id == event_id)) is not None

    def pending(self, limit: int = 50, after_id: int = 0) -> list[Event]:
        """Events still to upload, oldest first (FIFO)."""
        with self._sessions() as s:
            q = (select(Event).where(Event.upload_state == PENDING, Event.id > after_id)
                 .order_by(Event.id).limit(limit))
            return list(s.scalars(q))

    def mark(self, event_id: str, state: str, error: str = '') -> None:
        """The outcome of an upload; a dead-letter ends attempts already counted."""
        values = {'upload_state': state, 'upload_error': error[:500]}
        if state != DEAD_LETTER:
            values['upload_attempts'] = Event.upload_attempts + 1
        if state == SENT:
            values['uploaded_at'] = dt.datetime.now(dt.timezone.utc)
        with self._sessions.begin() as s:
            s.execute(update(Event).where(Event.event_id == event_id).values(**values))

    def note_attempt(self, event_id: str, error: str) -> int:
        """A failed delivery of a pending row: count it and keep the reason;
        returns the attempts so far."""
        with self._sessions.begin() as s:
            s.execute(update(Event).where(Event.event_id == event_id)
                      .values(upload_attempts=Event.upload_attempts + 1, upload_error=error[:500]))
            return int(s.scalar(select(Event.upload_attempts).where(Event.event_id == event_id)) or 0)

    def count(self, state: str | None = None) -> int:
        from sqlalchemy import func
        with self._sessions() as s:
            q = select(func.count(Event.id))
            if state:
                q = q.where(Event.upload_state == state)
            return int(s.scalar(q))

    def latest(self, limit: int = 20) -> list[Event]:
        with self._sessions() as s:
            return list(s.scalars(select(Event).order_by(Event.id.desc()).limit(limit)))

    def close(self) -> None:
        self.engine.dispose()


def _short(exc: Exception) -> str:
    return str(getattr(exc, 'orig', None) or exc).splitlines()[0]


def default_url() -> str:
    from lpr_common.paths import data_dir
    return sqlite_url(data_dir() / 'journal.sqlite')


def resolve_url(url: str) -> str:
    """The configured URL, or the default journal when empty."""
    return url or default_url()


# -- the operator's web journal (lpr_web; Alembic revision 4) ----------------------------
class WebUser(Base):
    """A login of the local web journal; the password only as a KDF hash."""
    __tablename__ = 'web_users'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PlateCorrection(Base):
    """An operator's correction of an event's plate, kept beside the original
    (the events row is never changed); the newest one per event applies."""
    __tablename__ = 'plate_corrections'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    original_plate: Mapped[str] = mapped_column(String(32))
    plate: Mapped[str] = mapped_column(String(32))
    corrected_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default='')
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AccessEntry(Base):
    """One plate on the allow, deny or visitor list, valid in a time window
    (open ends: NULL) at some cameras (space-separated ids; '' = every camera)."""
    __tablename__ = 'access_entries'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_name: Mapped[str] = mapped_column(String(16), index=True)
    plate: Mapped[str] = mapped_column(String(32), index=True)
    cameras: Mapped[str] = mapped_column(Text, default='')
    valid_from: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default='')
    created_by: Mapped[str] = mapped_column(String(64), default='')
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# -- manual barrier opens (lpr_web writes, lpr_access executes; Alembic revision 5) -------
class BarrierRequest(Base):
    """An operator's "Open barrier" from the web journal, and what came of it:
    pending -> opening (claimed by an access node) -> done / failed, or expired
    when no node took it in time (never executed late)."""
    __tablename__ = 'barrier_requests'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), default='')   # '' = the barrier of any access node
    event_id: Mapped[str] = mapped_column(String(36), default='')    # the event it was opened from, if any
    plate: Mapped[str] = mapped_column(String(32), default='')
    reason: Mapped[str] = mapped_column(Text, default='')
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), default='pending', index=True)
    result: Mapped[str] = mapped_column(Text, default='')             # the driver's answer, or why not
    handled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


# -- the graph's health (the recorder writes from /diagnostics, lpr_web reads; Alembic revision 6) --
class NodeHealth(Base):
    """The newest status of one node of the graph: one row per node, replaced at
    most every few seconds (lpr_recorder.health_rows). An old ``updated_at``
    means the node stopped reporting (shown as stale, never deleted silently)."""
    __tablename__ = 'node_health'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(200), unique=True)      # fully qualified: /cam0/recorder
    camera: Mapped[str] = mapped_column(String(64), default='')      # its namespace (hardware_id)
    level: Mapped[int] = mapped_column(Integer, default=0)            # diagnostic_msgs: 0 OK .. 3 STALE
    message: Mapped[str] = mapped_column(Text, default='')
    figures: Mapped[dict] = mapped_column(JSON, default=dict)         # lifecycle, cpu_percent, rss_mb, ...
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
