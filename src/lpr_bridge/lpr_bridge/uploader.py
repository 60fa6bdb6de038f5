"""Store-and-forward: journal rows still pending -> central server, oldest first.

Uploads are idempotent by event_id (the server must treat a repeat as
success). No connection stops the round and is retried with back-off; it is
nobody's fault and costs no row an attempt. A delivery that failed on a live
connection (no acknowledgement, the server closed the connection) counts as
an attempt of that row, with its reason; after ``max_attempts`` the row is
dead-lettered with the reason and the queue moves on. A rejection marks that
one row rejected. A payload larger than the server accepts is shrunk first
(images re-encoded smaller), else sent without images and marked so. So one
bad record never blocks the rest.
"""
from __future__ import annotations

import abc
import base64
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lpr_recorder.journal import DEAD_LETTER, REJECTED, SENT, Event, Journal

log = logging.getLogger(__name__)


class TransportError(ConnectionError):
    """The server could not be reached (retry later; no row is to blame)."""


class DeliveryError(TransportError):
    """Connected, but this event was not acknowledged (timeout, connection
    closed by the server): an attempt of that row."""


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


def payload_size(payload: dict) -> int:
    return len(json.dumps(payload, separators=(',', ':')).encode())


def fit_payload(payload: dict, limit: int) -> dict:
    """The payload within ``limit`` bytes: as it is, else with its images
    re-encoded smaller (JPEG quality, then size), else without images and
    ``images_dropped`` set. A 0 limit means no limit."""
    if not limit or payload_size(payload) <= limit:
        return payload
    originals = {k: base64.b64decode(v) for k, v in payload['images'].items()}
    for quality, scale in ((70, 1.0), (60, 0.7), (50, 0.5), (40, 0.35)):
        images = {k: _reencode(data, quality, scale) for k, data in originals.items()}
        shrunk = {**payload, 'images': {k: base64.b64encode(v).decode() for k, v in images.items() if v},
                  'images_reduced': True}
        if payload_size(shrunk) <= limit:
            return shrunk
    return {**payload, 'images': {}, 'images_dropped': True}


def _reencode(data: bytes, quality: int, scale: float) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return b''
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, out = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return out.tobytes() if ok else b''


class Uploader:
    def __init__(self, journal: Journal, transport: Transport, image_root: Path | None,
                 device_id: str = '', batch: int = 50, max_attempts: int = 5, max_payload_bytes: int = 0):
        self.journal = journal
        self.transport = transport
        self.image_root = image_root
        self.device_id = device_id or socket.gethostname()
        self.batch = batch
        self.max_attempts = max_attempts
        self.max_payload_bytes = max_payload_bytes
        self.sent = 0
        self.rejected = 0
        self.dead_lettered = 0
        self.shrunk = 0

    def run_once(self) -> int:
        """Upload pending events until none is left; returns how many were handled.

        Raises TransportError when the server cannot be reached, or when a
        delivery failed on a row still under its attempt limit (the caller
        backs off either way).
        """
        handled, after = 0, 0
        while True:
            rows = self.journal.pending(self.batch, after_id=after)
            if not rows:
                return handled
            for row in rows:
                self._upload(row)
                handled += 1
                after = row.id

    def _upload(self, row: Event) -> None:
        payload = event_payload(row, self.image_root, self.device_id)
        fitted = fit_payload(payload, self.max_payload_bytes)
        if fitted is not payload:
            self.shrunk += 1
            log.warning('event %s: %d bytes over the %d-byte limit: sent %s', row.event_id,
                        payload_size(payload), self.max_payload_bytes,
                        'without images' if fitted.get('images_dropped') else 'with smaller images')
        try:
            ack = self.transport.send(fitted)
        except DeliveryError as exc:
            attempts = self.journal.note_attempt(row.event_id, str(exc))
            if attempts < self.max_attempts:
                raise
            self.journal.mark(row.event_id, DEAD_LETTER, f'gave up after {attempts} attempts: {exc}')
            self.dead_lettered += 1
            log.error('event %s (%s) dead-lettered after %d attempts: %s', row.event_id, row.plate, attempts, exc)
            return
        if ack.accepted:
            self.journal.mark(row.event_id, SENT)
            self.sent += 1
        else:
            self.journal.mark(row.event_id, REJECTED, ack.error)
            self.rejected += 1
            log.warning('server rejected event %s (%s): %s', row.event_id, row.plate, ack.error)
