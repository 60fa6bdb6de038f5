"""The server's tables (SQLAlchemy 2.x); the schema itself is made by the
Alembic migrations in ``lpr_server/migrations`` (a test checks they agree)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lpr_common.db import UtcDateTime

DEVICE, API = 'device', 'api'   # credential roles: an edge device uploads, an API client reads


class Base(DeclarativeBase):
    pass


class Device(Base):
    """A credential: an edge device (role ``device``) or an API client (role ``api``).
    Only the SHA-256 of the token is kept."""
    __tablename__ = 'devices'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8), default=DEVICE)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_heartbeat: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_address: Mapped[str] = mapped_column(String(64), default='')
    status: Mapped[dict | None] = mapped_column(JSON, nullable=True)   # the bridge's last heartbeat


class Event(Base):
    """One vehicle pass as an edge committed it; ``id`` is the server's arrival order."""
    __tablename__ = 'events'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey('devices.id'), index=True)
    camera_id: Mapped[str] = mapped_column(String(64), default='')
    site_id: Mapped[str] = mapped_column(String(64), default='')
    plate: Mapped[str] = mapped_column(String(32), index=True)
    region: Mapped[str] = mapped_column(String(8), default='')
    plate_format: Mapped[str] = mapped_column(String(32), default='')
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    read_count: Mapped[int] = mapped_column(Integer, default=0)
    direction: Mapped[str] = mapped_column(String(16), default='')
    vehicle_type: Mapped[str] = mapped_column(String(32), default='')
    vehicle_color: Mapped[str] = mapped_column(String(32), default='')
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    best_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    box: Mapped[list] = mapped_column(JSON, default=list)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    images_reduced: Mapped[bool] = mapped_column(Boolean, default=False)   # the edge shrank or dropped images
    source: Mapped[str] = mapped_column(String(16), default='bridge')  # bridge | legacy
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Image(Base):
    """One image of an event, stored as a file under the image directory."""
    __tablename__ = 'images'
    __table_args__ = (UniqueConstraint('event_pk', 'kind'),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey('events.id'), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)          # relative to the image directory
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class ListEntry(Base):
    """One plate of a central access list (the edge's fields), for every device
    (``scope`` '') or one device (its name); pushed to the edges."""
    __tablename__ = 'list_entries'

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64), index=True)
    list_name: Mapped[str] = mapped_column(String(16))
    plate: Mapped[str] = mapped_column(String(32), index=True)
    cameras: Mapped[str] = mapped_column(Text, default='')      # space-separated; '' = every camera
    valid_from: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default='')
    created_by: Mapped[str] = mapped_column(String(64), default='')
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ListVersion(Base):
    """The version of one scope's list: one more on every change."""
    __tablename__ = 'list_versions'

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ListAck(Base):
    """The list version a device last acknowledged, per wire scope (all / device)."""
    __tablename__ = 'list_acks'

    device_id: Mapped[int] = mapped_column(ForeignKey('devices.id'), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default='')
    acked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
