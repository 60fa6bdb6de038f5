"""Store-and-forward: journal rows still pending -> central server, oldest first.

Uploads are idempotent by event_id (the server must treat a repeat as
success). A transient failure (no connection, no acknowledgement) stops
the round and is retried with back-off; a rejection marks that one row
rejected and the queue moves on, so one bad record never blocks the rest.
"""
from __future__ import annotations

import abc
import base64
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from lpr_recorder.journal import REJECTED, SENT, Event, Journal

log = logging.getLogger(__name__)


class TransportError(ConnectionError):
    """The server could not be reached or did not answer in time (retry later)."""


@dataclass(frozen=True)
class Ack:
    accepted: bool
    error: str = ''


class Transport(abc.ABC):
    @abc.abstractmethod
    def send(self, payload: dict) -> Ack:
        """Deliver one event; raise TransportError when it should be retried."""

    def close(self) -> None:
        pass


def event_payload(row: Event, image_root: Path | None, device_id: str) -> dict:
    """The JSON document sent for one event."""
    payload = {
        'event_id': row.event_id, 'device_id': device_id, 'camera_id': row.camera_id,
        'site_id': row.site_id, 'plate': row.plate, 'region': row.region,
        'format': row.plate_format, 'confidence': round(row.confidence, 4),
        'candidates': row.candidates, 'read_count': row.read_count, 'direction': row.direction,
        'first_seen': row.first_seen.isoformat(timespec='milliseconds'),
        'last_seen': row.last_seen.isoformat(timespec='milliseconds'),
        'best_seen': row.best_seen.isoformat(timespec='milliseconds'),
        'box': row.box, 'latitude': row.latitude, 'longitude': row.longitude, 'images': {},
    }
    if image_root is not None:
        for kind, rel in (('frame', row.frame_path), ('plate', row.plate_path),
                          ('processed', row.processed_path), ('vehicle', row.vehicle_path)):
            if rel:
                try:
                    payload['images'][kind] = base64.b64encode((image_root / rel).read_bytes()).decode()
                except OSError as exc:
                    log.warning('event %s: image %s unreadable: %s', row.event_id, rel, exc)
    return payload


class Uploader:
    def __init__(self, journal: Journal, transport: Transport, image_root: Path | None,
                 device_id: str = '', batch: int = 50):
        self.journal = journal
        self.transport = transport
        self.image_root = image_root
        self.device_id = device_id or socket.gethostname()
        self.batch = batch
        self.sent = 0
        self.rejected = 0

    def run_once(self) -> int:
        """Upload pending events until none is left; returns how many were handled.

        Raises TransportError on a transient failure (the caller backs off).
        """
        handled, after = 0, 0
        while True:
            rows = self.journal.pending(self.batch, after_id=after)
            if not rows:
                return handled
            for row in rows:
                ack = self.transport.send(event_payload(row, self.image_root, self.device_id))
                if ack.accepted:
                    self.journal.mark(row.event_id, SENT)
                    self.sent += 1
                else:
                    self.journal.mark(row.event_id, REJECTED, ack.error)
                    self.rejected += 1
                    log.warning('server rejected event %s (%s): %s', row.event_id, row.plate, ack.error)
                handled += 1
                after = row.id
