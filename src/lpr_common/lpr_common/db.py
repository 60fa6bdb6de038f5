"""Database helpers shared by the edge journal and the central server (SQLAlchemy)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware datetimes, stored in UTC (SQLite keeps no zone itself;
    PostgreSQL stores timestamptz). A naive datetime is refused."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError('naive datetime; use timezone-aware values')
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == 'sqlite' else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
