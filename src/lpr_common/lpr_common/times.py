"""Times that people type (list validity windows, search ranges)."""
from __future__ import annotations

import datetime as dt


def parse_time(text: str, naive_zone: dt.tzinfo | None = None) -> dt.datetime | None:
    """ISO 8601 date or date-time -> an aware datetime; '' = open end (None).
    A time without a zone is taken in ``naive_zone`` (None: this machine's
    local zone). ValueError names the text."""
    text = (text or '').strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'not a date/time (ISO 8601 wanted): {text[:40]!r}') from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=naive_zone) if naive_zone else value.astimezone()
    return value
