"""Store-and-forward: journal rows still pending -> central server, oldest first.

Events go in batches (one message, one acknowledgement per event), their
images as binary attachments. Uploads are idempotent by event_id (the server
treats a repeat as success), so a batch whose acknowledgement was lost is
simply sent again.

No connection stops the round and is retried with back-off; it is nobody's
fault and costs no row an attempt. A batch that failed on a live connection
(no acknowledgement, the server closed the connection) is sent again one
event at a time, so the failure lands on the event that causes it: that
counts as an attempt of that row, with its reason; after ``max_attempts`` the
row is dead-lettered with the reason and the queue moves on. An event the
server refuses as invalid is dead-lettered at once with the server's reason.
An event larger than ``max_payload_bytes`` is shrunk first (images
re-encoded smaller), else sent without images and marked so. So one bad
record never blocks the rest.
"""
from __future__ import annotations

import abc
import datetime as dt
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lpr_recorder.journal import DEAD_LETTER, PENDING, SENT, Event, Journal

log = logging.getLogger(__name__)


class TransportError(ConnectionError):
    """The server could not be reached (retry later; no row is to blame)."""


class DeliveryError(TransportError):
    """Connected, but the upload was not acknowledged (timeout, connection
    closed by the server): an attempt of the row, once it is alone in its batch."""


@dataclass(frozen=True)
class Ack:
    accepted: bool
    error: str = ''


class Transport(abc.ABC):
    @abc.abstractmethod
    def send_batch(self, payloads: list[dict]) -> list[Ack]:
        """Deliver events; one Ack per payload, in order. Raise TransportError
        (no connection) or DeliveryError (not acknowledged) to retry later."""

    def heartbeat(self, status: dict) -> None:
        """Tell the server how this edge is doing (best effort)."""

    @property
    def connected(self) -> bool:
        return False

    def close(self) -> None:
        pass


def prepare_image(data: bytes, max_side: int = 0, quality: int = 0) -> bytes:
    """The JPEG as stored, or re-encoded within ``max_side`` pixels / at ``quality``."""
    if not max_side and not quality:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return data      # not decodable here: the server judges it
    scale = min(1.0, max_side / max(image.shape[:2])) if max_side else 1.0
    if scale >= 1.0 and not quality:
        return data
    return _reencode_image(image, quality or 90, scale) or data


def event_payload(row: Event, image_root: Path | None, device_id: str,
                  image_max_side: int = 0, image_quality: int = 0) -> dict:
    """The message for one event; images are ``bytes`` (sent as binary attachments)."""
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
                    data = (image_root / rel).read_bytes()
                except OSError as exc:
                    log.warning('event %s: image %s unreadable: %s', row.event_id, rel, exc)
                    continue
                payload['images'][kind] = prepare_image(data, image_max_side, image_quality)
    return payload


def payload_size(payload: dict) -> int:
    """Bytes on the wire, near enough: the JSON part plus the attachments."""
    fields = {k: v for k, v in payload.items() if k != 'images'}
    return len(json.dumps(fields, separators=(',', ':')).encode()) + sum(map(len, payload['images'].values()))


def fit_payload(payload: dict, limit: int) -> dict:
    """The payload within ``limit`` bytes: as it is, else with its images
    re-encoded smaller (JPEG quality, then size), else without images and
    ``images_dropped`` set. A 0 limit means no limit."""
    if not limit or payload_size(payload) <= limit:
        return payload
    originals = payload['images']
    for quality, scale in ((70, 1.0), (60, 0.7), (50, 0.5), (40, 0.35)):
        images = {k: _reencode(data, quality, scale) for k, data in originals.items()}
        shrunk = {**payload, 'images': {k: v for k, v in images.items() if v}, 'images_reduced': True}
        if payload_size(shrunk) <= limit:
            return shrunk
    return {**payload, 'images': {}, 'images_dropped': True}


def _reencode(data: bytes, quality: int, scale: float) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return b'' if image is None else _reencode_image(image, quality, scale)


def _reencode_image(image: np.ndarray, quality: int, scale: float) -> bytes:
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, out = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return out.tobytes() if ok else b''


class Uploader:
    def __init__(self, journal: Journal, transport: Transport, image_root: Path | None,
                 device_id: str = '', batch: int = 50, max_attempts: int = 5, max_payload_bytes: int = 0,
                 image_max_side: int = 0, image_quality: int = 0):
        self.journal = journal
        self.transport = transport
        self.image_root = image_root
        self.device_id = device_id or socket.gethostname()
        self.batch = batch
        self.max_attempts = max_attempts
        self.max_payload_bytes = max_payload_bytes
        self.image_max_side, self.image_quality = image_max_side, image_quality
        self.sent = 0
        self.rejected = 0          # refused by the server as invalid (dead-lettered with its reason)
        self.dead_lettered = 0     # by this process: rejected, or gave up after max_attempts
        self.shrunk = 0
        self.last_error = ''

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
            for group in self._groups(rows):
                self._deliver(group)
                handled += len(group)
            after = rows[-1].id

    def _payload(self, row: Event) -> dict:
        payload = event_payload(row, self.image_root, self.device_id, self.image_max_side, self.image_quality)
        fitted = fit_payload(payload, self.max_payload_bytes)
        if fitted is not payload:
            self.shrunk += 1
            log.warning('event %s: %d bytes over the %d-byte limit: sent %s', row.event_id,
                        payload_size(payload), self.max_payload_bytes,
                        'without images' if fitted.get('images_dropped') else 'with smaller images')
        return fitted

    def _groups(self, rows: list[Event]) -> list[list[tuple[Event, dict]]]:
        """Consecutive rows in messages of at most ``max_payload_bytes``."""
        groups: list[list[tuple[Event, dict]]] = []
        size = 0
        for row in rows:
            payload = self._payload(row)
            n = payload_size(payload)
            if not groups or (self.max_payload_bytes and size + n > self.max_payload_bytes):
                groups.append([])
                size = 0
            groups[-1].append((row, payload))
            size += n
        return groups

    def _deliver(self, group: list[tuple[Event, dict]]) -> None:
        try:
            acks = self.transport.send_batch([payload for _, payload in group])
        except DeliveryError as exc:
            self.last_error = str(exc)
            if len(group) == 1:
                self._failed(group[0][0], exc)
                return
            log.warning('batch of %d not acknowledged (%s): sending them one by one', len(group), exc)
            for item in group:
                self._deliver([item])
            return
        except TransportError as exc:
            self.last_error = str(exc)
            raise
        if len(acks) != len(group):
            raise TransportError(f'server acknowledged {len(acks)} of {len(group)} events')
        for (row, _), ack in zip(group, acks):
            self._settle(row, ack)

    def _failed(self, row: Event, exc: DeliveryError) -> None:
        attempts = self.journal.note_attempt(row.event_id, str(exc))
        if attempts < self.max_attempts:
            raise exc
        self.journal.mark(row.event_id, DEAD_LETTER, f'gave up after {attempts} attempts: {exc}')
        self.dead_lettered += 1
        log.error('event %s (%s) dead-lettered after %d attempts: %s', row.event_id, row.plate, attempts, exc)

    def _settle(self, row: Event, ack: Ack) -> None:
        if ack.accepted:
            self.journal.mark(row.event_id, SENT)
            self.sent += 1
            return
        self.journal.mark(row.event_id, DEAD_LETTER, f'rejected by the server: {ack.error}')
        self.rejected += 1
        self.dead_lettered += 1
        self.last_error = f'event {row.event_id} rejected: {ack.error}'
        log.warning('server rejected event %s (%s): %s', row.event_id, row.plate, ack.error)

    def status(self) -> dict:
        """The queue as /diagnostics and the server's device health show it."""
        oldest = self.journal.pending(1)
        age = (dt.datetime.now(dt.timezone.utc) - oldest[0].created_at).total_seconds() if oldest else 0.0
        return {'queued': self.journal.count(PENDING), 'sent': self.sent,
                'dead_lettered': self.journal.count(DEAD_LETTER), 'rejected': self.rejected,
                'oldest_pending_age_s': round(max(age, 0.0), 1), 'connected': self.transport.connected,
                'last_error': self.last_error[:300]}

    def send_heartbeat(self) -> None:
        self.transport.heartbeat(self.status())
