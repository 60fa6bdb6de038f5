"""The REST API, as plain functions of (method, path, query, token).

    GET /api/health                              no token needed
    GET /api/events?plate=&device=&since=&until=&limit=&before_id=
    GET /api/events/{event_id}                   one event with its image links
    GET /api/events/{event_id}/images/{kind}     the JPEG
    GET /api/devices                             devices and their health
    GET /api/lists?device=                       access lists pushed to the edges, their versions,
                                                 and the version each device acknowledged

Every call but /api/health needs ``Authorization: Bearer <api key>`` (an
``lpr-server apikey add NAME`` key; device tokens upload, they do not read).
API keys only read: lists are changed with ``lpr-server list``.
Answers are JSON (text is never rendered as HTML).
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from lpr_server.lists import ALL
from lpr_server.images import ImageMissing
from lpr_server.models import API, Device, Event, Image, ListEntry
from lpr_server.store import EventQuery, Store, utcnow

MAX_LIMIT = 1000


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = 'application/json'
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json(status: int, value) -> Response:
    return Response(status, json.dumps(value, ensure_ascii=False).encode())


def _error(status: int, message: str) -> Response:
    return _json(status, {'error': message})


class BadRequest(ValueError):
    pass


def _time(query: dict, key: str) -> dt.datetime | None:
    value = query.get(key)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f'{key} must be an ISO 8601 time, e.g. 2026-12-01T08:00:00+00:00') from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _int(query: dict, key: str, default: int, low: int, high: int) -> int:
    value = query.get(key)
    if value in (None, ''):
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f'{key} must be an integer') from None
    if not low <= number <= high:
        raise BadRequest(f'{key} must be within [{low}, {high}]')
    return number


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec='milliseconds') if value else None


def event_summary(e: Event, device: str) -> dict:
    return {
        'event_id': e.event_id, 'device': device, 'camera_id': e.camera_id, 'site_id': e.site_id,
        'plate': e.plate, 'region': e.region, 'format': e.plate_format, 'confidence': e.confidence,
        'read_count': e.read_count, 'direction': e.direction, 'vehicle_type': e.vehicle_type,
        'vehicle_color': e.vehicle_color, 'first_seen': _iso(e.first_seen), 'last_seen': _iso(e.last_seen),
        'best_seen': _iso(e.best_seen), 'latitude': e.latitude, 'longitude': e.longitude,
        'source': e.source, 'received_at': _iso(e.received_at), 'server_id': e.id,
    }


class Api:
    def __init__(self, store: Store, online_within_s: float = 90.0):
        self.store = store
        self.online_within_s = online_within_s

    def handle(self, method: str, path: str, query: dict[str, str], token: str) -> Response:
        parts = [p for p in path.split('/') if p]
        if parts[:1] != ['api']:
            return _error(404, 'not found')
        if method not in ('GET', 'HEAD'):
            return _error(405, 'only GET')
        if parts == ['api', 'health']:
            return _json(200, {'status': 'ok'})
        if self.store.authenticate(token, role=API) is None:
            return Response(401, b'{"error": "missing, unknown or revoked API key"}',
                            headers=[('www-authenticate', 'Bearer')])
        try:
            return self._route(parts[1:], query)
        except BadRequest as exc:
            return _error(400, str(exc))

    def _route(self, parts: list[str], query: dict) -> Response:
        if parts == ['events']:
            return self.events(query)
        if parts == ['devices']:
            return self.devices()
        if parts == ['lists']:
            return self.lists(query)
        if len(parts) in (2, 4) and parts[0] == 'events':
            try:
                event_id = str(uuid.UUID(parts[1]))
            except ValueError:
                return _error(404, 'not an event id')
            if len(parts) == 2:
                return self.event(event_id)
            if parts[2] == 'images':
                return self.image(event_id, parts[3])
        return _error(404, 'not found')

    def events(self, query: dict) -> Response:
        unknown = sorted(set(query) - {'plate', 'device', 'since', 'until', 'limit', 'before_id'})
        if unknown:
            raise BadRequest(f'unknown parameter(s) {", ".join(unknown)}')
        q = EventQuery(plate=query.get('plate', '')[:32], device=query.get('device', '')[:64],
                       since=_time(query, 'since'), until=_time(query, 'until'),
                       limit=_int(query, 'limit', 100, 1, MAX_LIMIT), before_id=_int(query, 'before_id', 0, 0, 2**62))
        rows = self.store.events(q)
        return _json(200, {'events': [event_summary(e, name) for e, name in rows],
                           'next_before_id': rows[-1][0].id if len(rows) == q.limit else None})

    def event(self, event_id: str) -> Response:
        found = self.store.event(event_id)
        if found is None:
            return _error(404, 'no such event')
        e, device, images = found
        body = event_summary(e, device)
        body.update(candidates=e.candidates, box=e.box, images_reduced=e.images_reduced,
                    images=[self._image_ref(e, i) for i in images])
        return _json(200, body)

    @staticmethod
    def _image_ref(e: Event, image: Image) -> dict:
        return {'kind': image.kind, 'bytes': image.size, 'sha256': image.sha256,
                'url': f'/api/events/{e.event_id}/images/{image.kind}'}

    def image(self, event_id: str, kind: str) -> Response:
        found = self.store.event(event_id)
        image = next((i for i in found[2] if i.kind == kind), None) if found else None
        if image is None:
            return _error(404, 'no such image')
        try:
            data = self.store.image_bytes(image)
        except ImageMissing:
            return _error(410, 'image file missing on the server')
        except OSError:
            return _error(503, 'image store unavailable, try again')
        return Response(200, data, 'image/jpeg')

    def devices(self) -> Response:
        return _json(200, {'devices': [self._device(d) for d in self.store.devices()]})

    def _device(self, d: Device) -> dict:
        if d.revoked_at is not None:
            health = 'revoked'
        elif d.last_seen and (utcnow() - d.last_seen).total_seconds() <= self.online_within_s:
            health = 'online'
        else:
            health = 'offline' if d.last_seen else 'never seen'
        return {'name': d.name, 'health': health, 'created_at': _iso(d.created_at),
                'revoked_at': _iso(d.revoked_at), 'last_seen': _iso(d.last_seen),
                'last_heartbeat': _iso(d.last_heartbeat), 'last_address': d.last_address, 'status': d.status}

    def lists(self, query: dict) -> Response:
        unknown = sorted(set(query) - {'device'})
        if unknown:
            raise BadRequest(f'unknown parameter(s) {", ".join(unknown)}')
        device = query.get('device', '')[:64]
        versions = self.store.list_versions()
        scopes = [ALL] + ([device] if device else sorted(s for s in versions if s != ALL))
        return _json(200, {
            'lists': [{'scope': 'all' if scope == ALL else 'device', 'device': scope or None,
                       'version': versions.get(scope, 0),
                       'entries': [self._list_entry(e) for e in self.store.list_rows(scope)]} for scope in scopes],
            'acks': [{'device': name, 'scope': a.scope, 'version': a.version, 'error': a.error or None,
                      'acked_at': _iso(a.acked_at)} for name, a in self.store.list_acks()
                     if not device or name == device]})

    @staticmethod
    def _list_entry(e: ListEntry) -> dict:
        return {'id': e.id, 'list': e.list_name, 'plate': e.plate, 'cameras': e.cameras.split(),
                'valid_from': _iso(e.valid_from), 'valid_until': _iso(e.valid_until), 'note': e.note,
                'created_by': e.created_by, 'created_at': _iso(e.created_at)}
