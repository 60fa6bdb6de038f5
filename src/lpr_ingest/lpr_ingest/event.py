"""What every ingest path turns a camera's message into (no ROS here)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

# uuid5 namespace of ingested events: the same vendor event (a retransmission)
# always gets the same event id, so the journal records it once.
NAMESPACE = uuid.UUID('6f1c3e52-8d0a-5b7e-9a43-2c1d0f6b8e91')

HIKVISION, DAHUA, FTP = 'hikvision-isapi', 'dahua-itsapi', 'ftp'
APPROACHING, LEAVING = 'approaching', 'leaving'


class PushError(ValueError):
    """A message that cannot be read as a plate event; the text says why."""


@dataclass(frozen=True)
class CameraRead:
    source: str                   # HIKVISION, DAHUA or FTP
    camera_id: str
    stamp_ns: int                 # capture time, UTC nanoseconds
    plate: str
    confidence: float = 0.0       # 0..1; 0 when the camera gives none
    vendor_event_id: str = ''     # the camera's own id of the event (Hikvision UUID), '' if none
    region: str = ''
    direction: str = ''           # APPROACHING, LEAVING or ''
    vehicle_type: str = ''
    vehicle_color: str = ''
    plate_jpeg: bytes | None = None
    scene_jpeg: bytes | None = None
    retransmitted: bool = False   # the camera says it sends this one again

    @property
    def event_id(self) -> str:
        key = self.vendor_event_id or f'{self.stamp_ns}/{self.plate}'
        return str(uuid.uuid5(NAMESPACE, f'{self.source}/{self.camera_id}/{key}'))


def stamp_ns(text: str) -> int:
    """UTC nanoseconds of an ISO 8601 time ('2026-12-02T14:51:24.123+08:00',
    '2026-12-02 14:51:24'); a time without zone is this machine's local time."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise PushError(f'not a time: {text[:40]!r}') from None
    if when.tzinfo is None:
        when = when.astimezone()   # local time of this machine
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def percent(value, what: str) -> float:
    """A camera's 0..100 confidence as 0..1 ('' or None: 0)."""
    if value in (None, ''):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PushError(f'{what} is not a number: {str(value)[:20]!r}') from None
    if not 0.0 <= number <= 100.0:
        raise PushError(f'{what} must be within 0..100, got {number}')
    return number / 100.0


def clean_plate(text) -> str:
    """The plate as the journal keeps it: no spaces or dashes, upper case."""
    if not isinstance(text, str):
        raise PushError('plate number is not text')
    return ''.join(ch for ch in text.upper() if ch not in ' -·')
