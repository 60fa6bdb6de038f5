"""What the server answers to each Socket.IO message, without any network.

Messages from an authenticated device:

* ``lpr_batch``: a list of events (images as binary attachments), answered
  ``{"status": "success", "results": [{"event_id", "status": "stored" |
  "duplicate" | "rejected", "error"?}, ...]}``, one result per event, in order.
  A rejected event is refused for good (the edge dead-letters it with the
  reason); the valid ones of the batch are stored all the same.
* ``lpr_event``: one event, answered ``{"status": "success"}`` or
  ``{"status": "error", "error": reason}``; also the seed's legacy
  ``{"table": "lpr_detection", "data": {...}}`` (on any event name).
* ``heartbeat``: the bridge's status (queue, errors), kept per device.

A store failure (database down, disk full) is answered with ``retry: true``:
not the event's fault, so the edge keeps it pending and backs off.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy.exc import SQLAlchemyError

from lpr_server import validate
from lpr_server.models import Device
from lpr_server.store import Store

log = logging.getLogger(__name__)

SUCCESS, ERROR = 'success', 'error'


def _retry(exc: Exception) -> dict:
    log.error('store failure: %s', exc)
    return {'status': ERROR, 'error': f'server cannot store events now: {type(exc).__name__}', 'retry': True}


class Protocol:
    def __init__(self, store: Store, limits: validate.Limits = validate.Limits(), max_batch: int = 500):
        self.store = store
        self.limits = limits
        self.max_batch = max_batch

    def _revoked(self, device: Device) -> dict | None:
        if not self.store.is_active(device.id):
            return {'status': ERROR, 'error': 'device token revoked'}
        return None

    def batch(self, device: Device, events) -> dict:
        if not isinstance(events, list):
            return {'status': ERROR, 'error': 'a batch must be a list of events'}
        if len(events) > self.max_batch:
            return {'status': ERROR, 'error': f'batch of {len(events)} events, over the limit of {self.max_batch}'}
        refused = self._revoked(device)
        if refused:
            return refused
        results: list[dict] = []
        valid: list[tuple[dict, dict]] = []
        for data in events:
            event_id = data.get('event_id') if isinstance(data, dict) else None
            try:
                row, images = validate.event(data, self.limits)
            except validate.Invalid as exc:
                results.append({'event_id': event_id if isinstance(event_id, str) else None,
                                'status': 'rejected', 'error': str(exc)})
                log.warning('%s: event %.40r rejected: %s', device.name, event_id, exc)
                continue
            results.append({'event_id': row['event_id']})
            valid.append((row, images))
        try:
            statuses = iter(self.store.ingest(device, valid) if valid else [])
        except (SQLAlchemyError, OSError) as exc:
            return _retry(exc)
        for result in results:
            if 'status' not in result:
                result['status'] = next(statuses)
        return {'status': SUCCESS, 'results': results}

    def event(self, device: Device, data) -> dict:
        """One event, in the bridge's format or the seed's legacy one."""
        refused = self._revoked(device)
        if refused:
            return refused
        try:
            if validate.is_legacy(data):
                item = validate.legacy(data, device.name, self.limits)
            else:
                item = validate.event(data, self.limits)
        except validate.Invalid as exc:
            return {'status': ERROR, 'error': str(exc)}
        try:
            self.store.ingest(device, [item])
        except (SQLAlchemyError, OSError) as exc:
            return _retry(exc)
        return {'status': SUCCESS}

    def heartbeat(self, device: Device, status) -> dict:
        if not isinstance(status, dict):
            return {'status': ERROR, 'error': 'a heartbeat must be an object'}
        try:
            encoded = json.dumps(status, allow_nan=False)
        except (TypeError, ValueError):
            return {'status': ERROR, 'error': 'a heartbeat must be plain JSON'}
        if len(encoded) > 4096:
            return {'status': ERROR, 'error': 'heartbeat larger than 4096 bytes'}
        self.store.touch(device.id, heartbeat=status)
        return {'status': SUCCESS}
