"""The server's store: credentials, events (exactly once by UUID) and image files.

Pure Python over SQLAlchemy (SQLite by default, PostgreSQL for real
deployments); the Socket.IO app and the REST API call it from worker threads.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event as sa_event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from lpr_server import lists
from lpr_server.images import Images, LocalImages, image_key
from lpr_server.models import API, DEVICE, Device, Event, Image, ListAck, ListEntry, ListVersion

NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
STORED, DUPLICATE = 'stored', 'duplicate'
INGEST_ATTEMPTS = 3     # lost races with other server processes before giving up (retry: true)
log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A request the store refuses (unknown or duplicate name, ...)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is enough to keep
    them unusable if the database leaks (no password-style stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return 'lpr_' + secrets.token_urlsafe(32)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA synchronous=FULL')   # an acknowledged event survives a power cut
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.close()


def open_engine(url: str) -> Engine:
    if url.startswith('sqlite:///'):
        Path(url[len('sqlite:///'):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={'timeout': 30})
        sa_event.listen(engine, 'connect', _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine


def migrate(engine: Engine, revision: str = 'head', attempts: int = 5) -> None:
    """Alembic upgrade (the migrations ship inside this package). Two server
    processes starting on a fresh database: the loser retries."""
    from alembic import command
    from alembic.config import Config
    config = Config()
    config.set_main_option('script_location', 'lpr_server:migrations')
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == 'sqlite':
                    connection.exec_driver_sql('BEGIN IMMEDIATE')   # DDL inside the transaction
                config.attributes['connection'] = connection
                command.upgrade(config, revision)
            return
        except (OperationalError, IntegrityError) as exc:
            if 'already exists' not in str(exc) and 'duplicate' not in str(exc).lower() \
                    or attempt == attempts - 1:
                raise


def _lost_race(exc: Exception) -> bool:
    return isinstance(exc, IntegrityError) or 'deadlock' in str(exc).lower()


@dataclass(frozen=True)
class EventQuery:
    plate: str = ''                 # partial, case-insensitive
    device: str = ''
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    before_id: int = 0              # paging: events older than this server id


class Store:
    def __init__(self, url: str, images: str | Path | Images):
        """``images``: the image directory, or an image store (lpr_server.images)."""
        self.url = url
        self.images = images if isinstance(images, Images) else LocalImages(images)
        self.engine = open_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock()   # one writer per process; other processes: unique keys

    def close(self) -> None:
        self.engine.dispose()

    # credentials -----------------------------------------------------------

    def add_device(self, name: str, role: str = DEVICE) -> str:
        """Register ``name``; returns its token (only its hash is kept)."""
        if not NAME.match(name):
            raise StoreError(f'invalid name {name!r}: letters, digits, _ . - (at most 64)')
        token = new_token()
        try:
            with self._sessions.begin() as s:
                s.add(Device(name=name, role=role, token_hash=hash_token(token), created_at=utcnow(),
                             last_address=''))
        except IntegrityError:
            raise StoreError(f'{name!r} already exists (revoke it, or choose another name)') from None
        return token

    def revoke(self, name: str) -> bool:
        with self._sessions.begin() as s:
            result = s.execute(update(Device).where(Device.name == name, Device.revoked_at.is_(None))
                               .values(revoked_at=utcnow()))
            return result.rowcount > 0

    def devices(self, role: str | None = DEVICE) -> list[Device]:
        with self._sessions() as s:
            q = select(Device).order_by(Device.name)
            if role:
                q = q.where(Device.role == role)
            return list(s.scalars(q))

    def authenticate(self, token, role: str = DEVICE) -> Device | None:
        """The active credential holding ``token`` in ``role``, else None."""
        if not isinstance(token, str) or not token:
            return None
        with self._sessions() as s:
            found = s.scalar(select(Device).where(Device.token_hash == hash_token(token)))
        if found is None or found.revoked_at is not None or found.role != role:
            return None
        return found

    def is_active(self, device_id: int) -> bool:
        with self._sessions() as s:
            return s.scalar(select(Device.id).where(Device.id == device_id, Device.revoked_at.is_(None))) is not None

    def touch(self, device_id: int, address: str | None = None, heartbeat: dict | None = None) -> None:
        """Last seen now (and the address it came from, the heartbeat it sent)."""
        values: dict = {'last_seen': utcnow()}
        if address is not None:
            values['last_address'] = address[:64]
        if heartbeat is not None:
            values.update(last_heartbeat=values['last_seen'], status=heartbeat)
        with self._sessions.begin() as s:
            s.execute(update(Device).where(Device.id == device_id).values(**values))

    # events ----------------------------------------------------------------

    def ingest(self, device: Device, items: list[tuple[dict, dict[str, bytes]]]) -> list[str]:
        """Store validated events of ``device`` in one transaction, in order;
        one status per item: stored, or duplicate (already here: success too)."""
        with self._write_lock:
            for _ in range(INGEST_ATTEMPTS - 1):
                try:
                    return self._ingest(device, items)
                except (IntegrityError, OperationalError) as exc:
                    # Another server process stored one of them in between (its INSERT won
                    # the unique event_id, or PostgreSQL broke a deadlock between two
                    # batches): on the next pass they read as duplicates.
                    if not _lost_race(exc):
                        raise
            return self._ingest(device, items)   # a failure here reaches the edge as retry: true

    def _ingest(self, device: Device, items: list[tuple[dict, dict[str, bytes]]]) -> list[str]:
        now, written, statuses = utcnow(), [], []
        try:
            with self._sessions.begin() as s:
                ids = [row['event_id'] for row, _ in items]
                known = set(s.scalars(select(Event.event_id).where(Event.event_id.in_(ids))))
                fresh = []
                for row, images in items:
                    if row['event_id'] in known:
                        statuses.append(DUPLICATE)
                        continue
                    known.add(row['event_id'])
                    fresh.append((Event(**row, device_id=device.id, received_at=now), images))
                    statuses.append(STORED)
                s.add_all([e for e, _ in fresh])
                s.flush()   # assigns ids, in the order added
                try:
                    self._put_images(s, device.name, fresh, written)
                except BaseException:
                    self._discard(written)   # before the rollback lets another process take these event ids
                    raise
                s.execute(update(Device).where(Device.id == device.id).values(last_seen=now))
        except BaseException:
            self._discard(written)      # nothing partial: no image without its event
            raise
        return statuses

    def _put_images(self, s, device_name: str, fresh: list, written: list[str]) -> None:
        """Store the images of the new events and their rows. A key is a function
        of the event, so a resent event overwrites its own images (one object each)."""
        for row, images in fresh:
            for kind, blob in images.items():
                key = image_key(device_name, row.best_seen, row.event_id, kind)
                written.append(key)     # before the put: a put that fails late may still have stored it
                self.images.put(key, blob)
                s.add(Image(event_pk=row.id, kind=kind, path=key, size=len(blob),
                            sha256=hashlib.sha256(blob).hexdigest()))
        s.flush()   # a failure of the image rows while the events' ids are still held

    def _discard(self, written: list[str]) -> None:
        """Delete the images of a failed ingest (best effort: what stays is
        overwritten when the edge resends the event)."""
        while written:
            key = written.pop()
            try:
                self.images.delete(key)
            except (OSError, ValueError) as exc:
                log.warning('could not delete image %s of a failed ingest: %s', key, exc)

    def count(self) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(func.count(Event.id))))

    def events(self, query: EventQuery) -> list[tuple[Event, str]]:
        """(event, device name), newest first."""
        with self._sessions() as s:
            q = select(Event, Device.name).join(Device, Device.id == Event.device_id)
            if query.plate:
                q = q.where(func.upper(Event.plate).contains(query.plate.upper(), autoescape=True))
            if query.device:
                q = q.where(Device.name == query.device)
            if query.since:
                q = q.where(Event.best_seen >= query.since)
            if query.until:
                q = q.where(Event.best_seen < query.until)
            if query.before_id:
                q = q.where(Event.id < query.before_id)
            q = q.order_by(Event.id.desc()).limit(query.limit)
            return [(e, name) for e, name in s.execute(q)]

    def event(self, event_id: str) -> tuple[Event, str, list[Image]] | None:
        with self._sessions() as s:
            found = s.execute(select(Event, Device.name).join(Device, Device.id == Event.device_id)
                              .where(Event.event_id == event_id)).first()
            if found is None:
                return None
            images = list(s.scalars(select(Image).where(Image.event_pk == found[0].id).order_by(Image.kind)))
            return found[0], found[1], images

    def event_ids(self) -> list[str]:
        """Every event id in arrival order (tests, audits)."""
        with self._sessions() as s:
            return list(s.scalars(select(Event.event_id).order_by(Event.id)))

    def image_file(self, image: Image) -> Path:
        """The file of ``image`` (a local image directory only)."""
        return self.images.path(image.path)

    def image_bytes(self, image: Image) -> bytes:
        """``ImageMissing`` when it is gone, another ``OSError`` when the store fails."""
        return self.images.get(image.path)

    # access lists (pushed to the edges; see lpr_server.lists) ------------------

    def add_list_entries(self, scope: str, entries: list[lists.Entry], by: str = '') -> int:
        """Add entries to ``scope`` ('' = every device, else a device name);
        returns the scope's new version."""
        now = utcnow()
        with self._write_lock, self._sessions.begin() as s:
            self._check_scope(s, scope)
            s.add_all(ListEntry(scope=scope, list_name=e.list_name, plate=e.plate, cameras=' '.join(e.cameras),
                                valid_from=e.valid_from, valid_until=e.valid_until, note=e.note,
                                created_by=by[:64], created_at=now) for e in entries)
            return self._bump_version(s, scope, now)

    def remove_list_entries(self, ids: list[int]) -> dict[str, int]:
        """Remove entries by id (all or none); returns {scope: new version}."""
        now = utcnow()
        with self._write_lock, self._sessions.begin() as s:
            rows = list(s.scalars(select(ListEntry).where(ListEntry.id.in_(ids))))
            missing = sorted(set(ids) - {r.id for r in rows})
            if missing:
                raise StoreError(f'no list entry {", ".join(map(str, missing))}')
            for row in rows:
                s.delete(row)
            return {scope: self._bump_version(s, scope, now) for scope in sorted({r.scope for r in rows})}

    @staticmethod
    def _check_scope(s, scope: str) -> None:
        if scope != lists.ALL and s.scalar(select(Device.id).where(Device.name == scope,
                                                                    Device.role == DEVICE)) is None:
            raise StoreError(f'no device named {scope!r} (lpr-server device list)')

    @staticmethod
    def _bump_version(s, scope: str, now: dt.datetime) -> int:
        bumped = s.execute(update(ListVersion).where(ListVersion.scope == scope)
                           .values(version=ListVersion.version + 1, changed_at=now))
        if bumped.rowcount == 0:
            s.add(ListVersion(scope=scope, version=1, changed_at=now))
            s.flush()
        return int(s.scalar(select(ListVersion.version).where(ListVersion.scope == scope)))

    def list_rows(self, scope: str | None = None) -> list[ListEntry]:
        """The stored entries (of one scope), by scope, list and plate."""
        with self._sessions() as s:
            q = select(ListEntry).order_by(ListEntry.scope, ListEntry.list_name, ListEntry.plate, ListEntry.id)
            if scope is not None:
                q = q.where(ListEntry.scope == scope)
            return list(s.scalars(q))

    def list_versions(self) -> dict[str, int]:
        with self._sessions() as s:
            return {scope: version for scope, version in s.execute(select(ListVersion.scope, ListVersion.version))}

    def list_snapshot(self, scope: str) -> tuple[int, list[lists.Entry]]:
        """One scope's version and entries, read together."""
        with self._sessions.begin() as s:
            version = s.scalar(select(ListVersion.version).where(ListVersion.scope == scope)) or 0
            rows = s.scalars(select(ListEntry).where(ListEntry.scope == scope).order_by(ListEntry.id))
            return version, [lists.Entry(r.list_name, r.plate, tuple(r.cameras.split()), r.valid_from,
                                         r.valid_until, r.note) for r in rows]

    def record_list_ack(self, device_id: int, ack: lists.Ack) -> None:
        with self._write_lock, self._sessions.begin() as s:
            row = s.get(ListAck, (device_id, ack.scope))
            if row is None:
                s.add(ListAck(device_id=device_id, scope=ack.scope, version=ack.version, error=ack.error,
                              acked_at=utcnow()))
            else:
                row.version, row.error, row.acked_at = ack.version, ack.error, utcnow()

    def list_acks(self) -> list[tuple[str, ListAck]]:
        """(device name, ack) of every device that acknowledged a list."""
        with self._sessions() as s:
            return [(name, ack) for ack, name in s.execute(
                select(ListAck, Device.name).join(Device, Device.id == ListAck.device_id)
                .order_by(Device.name, ListAck.scope))]


__all__ = ['API', 'DEVICE', 'DUPLICATE', 'STORED', 'EventQuery', 'Store', 'StoreError', 'hash_token']
