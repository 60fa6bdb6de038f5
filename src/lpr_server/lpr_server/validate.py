"""Checks one uploaded event before anything of it is stored.

Every field is typed and bounded; unknown fields are refused (a typo or a
newer edge is told so, not silently dropped). Text is kept as inert text: it
is stored through bound parameters and served as JSON only, never as HTML,
and the plate itself must be letters, digits, spaces or hyphens. Images are
binary attachments (``bytes``), JPEG, within ``max_image_bytes``.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import unicodedata
import uuid
from dataclasses import dataclass

IMAGE_KINDS = ('frame', 'plate', 'vehicle', 'processed')
LEGACY_TABLE = 'lpr_detection'


class Invalid(ValueError):
    """The event can never be stored as sent; the message says why."""


@dataclass(frozen=True)
class Limits:
    max_image_bytes: int = 4_000_000
    max_candidates: int = 20


def _text(data: dict, key: str, max_len: int, required: bool = False, default: str = '') -> str:
    if key not in data or data[key] is None:
        if required:
            raise Invalid(f'{key} is required')
        return default
    value = data[key]
    if not isinstance(value, str):
        raise Invalid(f'{key} must be a string, got {type(value).__name__}')
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise Invalid(f'{key} is not valid UTF-8 text') from None
    if any(unicodedata.category(c) in ('Cc', 'Cs', 'Cf') for c in value):
        raise Invalid(f'{key} contains control characters')
    if len(value) > max_len:
        raise Invalid(f'{key} is longer than {max_len} characters')
    if required and not value.strip():
        raise Invalid(f'{key} is empty')
    return value


def _number(data: dict, key: str, low: float, high: float, nullable: bool = True) -> float | None:
    value = data.get(key)
    if value is None:
        if nullable:
            return None
        raise Invalid(f'{key} is required')
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f'{key} must be a number, got {value!r:.40}')
    if not low <= value <= high:
        raise Invalid(f'{key} must be within [{low}, {high}], got {value}')
    return float(value)


def _integer(data: dict, key: str, low: int, high: int) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f'{key} must be an integer, got {value!r:.40}')
    if not low <= value <= high:
        raise Invalid(f'{key} must be within [{low}, {high}], got {value}')
    return value


def _flag(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise Invalid(f'{key} must be true or false')
    return value


def _time(data: dict, key: str, required: bool = True) -> dt.datetime | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(f'{key} is not an ISO 8601 time: {value!r:.40}') from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if value > 1e11 else value      # epoch seconds or milliseconds
        try:
            parsed = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise Invalid(f'{key} is out of range') from None
    else:
        raise Invalid(f'{key} must be an ISO 8601 time')
    if parsed.tzinfo is None:
        raise Invalid(f'{key} has no time zone')
    return parsed


def plate_text(value: str, key: str = 'plate') -> str:
    if not all(c.isalnum() or c in ' -' for c in value):
        raise Invalid(f'{key} must contain only letters, digits, spaces or hyphens, got {value!r:.40}')
    return value


def _event_id(data: dict) -> str:
    value = data.get('event_id')
    if not isinstance(value, str):
        raise Invalid('event_id must be a UUID string')
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Invalid(f'event_id is not a UUID: {value!r:.40}') from None


def _json_list(data: dict, key: str, max_items: int, max_bytes: int = 4096) -> list:
    value = data.get(key) or []
    if not isinstance(value, list) or len(value) > max_items:
        raise Invalid(f'{key} must be a list of at most {max_items} items')
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise Invalid(f'{key} holds values that are not plain JSON') from None
    if len(encoded) > max_bytes:
        raise Invalid(f'{key} is larger than {max_bytes} bytes')
    return value


def _image(kind: str, data, limits: Limits) -> bytes:
    if not isinstance(data, (bytes, bytearray)):
        raise Invalid(f'image {kind} must be a binary attachment, got {type(data).__name__}')
    if len(data) > limits.max_image_bytes:
        raise Invalid(f'image {kind} is {len(data)} bytes, over the {limits.max_image_bytes}-byte limit')
    if not data.startswith(b'\xff\xd8'):
        raise Invalid(f'image {kind} is not a JPEG')
    return bytes(data)


def _images(data: dict, limits: Limits) -> dict[str, bytes]:
    images = data.get('images') or {}
    if not isinstance(images, dict):
        raise Invalid('images must be an object of kind -> JPEG attachment')
    unknown = sorted(set(images) - set(IMAGE_KINDS))
    if unknown:
        raise Invalid(f'unknown image kind(s) {", ".join(map(str, unknown))[:80]}')
    return {kind: _image(kind, blob, limits) for kind, blob in images.items()}


EVENT_FIELDS = {'event_id', 'device_id', 'camera_id', 'site_id', 'plate', 'region', 'format', 'confidence',
                'candidates', 'read_count', 'direction', 'first_seen', 'last_seen', 'best_seen', 'box',
                'latitude', 'longitude', 'images', 'images_reduced', 'images_dropped',
                'vehicle_type', 'vehicle_color'}


def event(data, limits: Limits = Limits()) -> tuple[dict, dict[str, bytes]]:
    """(column values, images) of one bridge event; raises Invalid."""
    if not isinstance(data, dict):
        raise Invalid(f'an event must be an object, got {type(data).__name__}')
    unknown = sorted(str(k) for k in set(data) - EVENT_FIELDS)
    if unknown:
        raise Invalid(f'unknown field(s) {", ".join(unknown)[:120]}')
    first = _time(data, 'first_seen')
    row = {
        'event_id': _event_id(data),
        'camera_id': _text(data, 'camera_id', 64, required=True),
        'site_id': _text(data, 'site_id', 64),
        'plate': plate_text(_text(data, 'plate', 32, required=True)),
        'region': _text(data, 'region', 8),
        'plate_format': _text(data, 'format', 32),
        'confidence': _number(data, 'confidence', 0.0, 1.0),
        'candidates': _json_list(data, 'candidates', limits.max_candidates),
        'read_count': _integer(data, 'read_count', 0, 1_000_000),
        'direction': _text(data, 'direction', 16),
        'vehicle_type': _text(data, 'vehicle_type', 32),
        'vehicle_color': _text(data, 'vehicle_color', 32),
        'first_seen': first,
        'last_seen': _time(data, 'last_seen', required=False) or first,
        'best_seen': _time(data, 'best_seen', required=False) or first,
        'box': _json_list(data, 'box', 4, 200),
        'latitude': _number(data, 'latitude', -90.0, 90.0),
        'longitude': _number(data, 'longitude', -180.0, 180.0),
        'images_reduced': _flag(data, 'images_reduced') or _flag(data, 'images_dropped'),
        'source': 'bridge',
    }
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in row['box']):
        raise Invalid('box must be numbers [x, y, w, h]')
    _text(data, 'device_id', 64)   # informative only: the token says which device this is
    return row, _images(data, limits)


LEGACY_FIELDS = {'license_plate', 'checkpoint_id', 'timestamp', 'hostname', 'vehicle_type', 'vehicle_color',
                 'latitude', 'longitude', 'image'}
_LEGACY_NS = uuid.UUID('6f1c1a8e-6d0b-4c1e-9a55-0d2b1f0c7a11')


def is_legacy(message) -> bool:
    return isinstance(message, dict) and message.get('table') == LEGACY_TABLE


def legacy(message, device_name: str, limits: Limits = Limits()) -> tuple[dict, dict[str, bytes]]:
    """(column values, images) of the seed's ``{"table": "lpr_detection", "data": {...}}``.
    It has no event id: one is derived from device, checkpoint, time and plate,
    so a repeated message is stored once."""
    if set(message) - {'table', 'data'}:
        raise Invalid(f'unknown field(s) {", ".join(sorted(map(str, set(message) - {"table", "data"})))[:120]}')
    data = message.get('data')
    if not isinstance(data, dict):
        raise Invalid('data must be an object')
    unknown = sorted(str(k) for k in set(data) - LEGACY_FIELDS)
    if unknown:
        raise Invalid(f'unknown field(s) {", ".join(unknown)[:120]}')
    seen = _time(data, 'timestamp')
    plate = plate_text(_text(data, 'license_plate', 32, required=True), 'license_plate')
    raw = data.get('checkpoint_id')
    checkpoint = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else _text(data, 'checkpoint_id', 64)
    key = f'{device_name}|{checkpoint}|{seen.isoformat()}|{plate}'
    row = {
        'event_id': str(uuid.uuid5(_LEGACY_NS, key)), 'camera_id': checkpoint,
        'site_id': _text(data, 'hostname', 64), 'plate': plate, 'region': '', 'plate_format': '',
        'confidence': None, 'candidates': [], 'read_count': 0, 'direction': '',
        'vehicle_type': _text(data, 'vehicle_type', 32), 'vehicle_color': _text(data, 'vehicle_color', 32),
        'first_seen': seen, 'last_seen': seen, 'best_seen': seen, 'box': [],
        'latitude': _number(data, 'latitude', -90.0, 90.0), 'longitude': _number(data, 'longitude', -180.0, 180.0),
        'images_reduced': False, 'source': 'legacy',
    }
    images = {}
    image = data.get('image')
    if isinstance(image, str) and image:
        try:
            image = base64.b64decode(image.split(',', 1)[-1], validate=True)   # also a data: URL
        except (binascii.Error, ValueError):
            raise Invalid('image is not base64') from None
    if image:
        images['frame'] = _image('image', image, limits)
    return row, images
