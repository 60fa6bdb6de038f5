"""Dahua ITSAPI pushes -> CameraRead. No ROS here.

The camera (ITSAPI "platform server") POSTs JSON with HTTP Digest
authentication to ``/NotificationInfo/TollgateInfo`` for each plate, and a
heartbeat to ``/NotificationInfo/KeepAlive``; both are answered
``{"Result": true}``. Fields used: ``Picture.Plate`` (``PlateNumber``,
``Confidence`` 0..100, ``PlateColor``), ``Picture.SnapInfo``
(``AccurateTime`` "2026-12-02 14:51:24.123", else ``SnapTime``, in the
camera's local time; ``DeviceID``; ``Direction``), ``Picture.Vehicle``
(``VehicleType``, ``VehicleColor``) and the base64 pictures
``Picture.CutoutPic.Content`` (the plate), ``Picture.NormalPic.Content``
(the scene; ``VehiclePic`` when there is no scene).
"""
from __future__ import annotations

import base64
import binascii
import json

from lpr_ingest.event import APPROACHING, DAHUA, LEAVING, CameraRead, PushError, clean_plate, percent, stamp_ns

TOLLGATE = '/NotificationInfo/TollgateInfo'
KEEPALIVE = '/NotificationInfo/KeepAlive'
ANSWER = b'{"Result": true}'
DIRECTIONS = {'approach': APPROACHING, 'obverse': APPROACHING, 'leave': LEAVING, 'reverse': LEAVING}


def parse(body: bytes, client: str = '') -> CameraRead | None:
    """The plate event of a TollgateInfo push (None when it holds no plate).
    Raises PushError for a push that cannot be read."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PushError(f'malformed JSON: {exc}') from None
    picture = _object(data, 'Picture') if isinstance(data, dict) else None
    if picture is None:
        raise PushError('TollgateInfo without a "Picture" object')
    plate_info, snap = _object(picture, 'Plate'), _object(picture, 'SnapInfo')
    if plate_info is None or snap is None:
        raise PushError('TollgateInfo without Picture.Plate or Picture.SnapInfo')
    plate = clean_plate(plate_info.get('PlateNumber', ''))
    if not plate:
        return None
    when = snap.get('AccurateTime') or snap.get('SnapTime')
    if not isinstance(when, str) or not when:
        raise PushError('TollgateInfo without SnapInfo.AccurateTime or SnapTime')
    vehicle = _object(picture, 'Vehicle') or {}
    return CameraRead(
        source=DAHUA, camera_id=str(snap.get('DeviceID') or client or 'dahua'), stamp_ns=stamp_ns(when),
        plate=plate, confidence=percent(plate_info.get('Confidence'), 'Plate.Confidence'),
        direction=DIRECTIONS.get(str(snap.get('Direction', '')).lower(), ''),
        vehicle_type=str(vehicle.get('VehicleType', '')), vehicle_color=str(vehicle.get('VehicleColor', '')),
        plate_jpeg=_picture(picture, 'CutoutPic'),
        scene_jpeg=_picture(picture, 'NormalPic') or _picture(picture, 'VehiclePic'))


def _object(parent: dict, key: str) -> dict | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, dict):
        raise PushError(f'{key} is not an object')
    return value


def _picture(picture: dict, key: str) -> bytes | None:
    content = (_object(picture, key) or {}).get('Content')
    if not content:
        return None
    if not isinstance(content, str):
        raise PushError(f'{key}.Content is not base64 text')
    try:
        return base64.b64decode(''.join(content.split()), validate=True)   # line breaks allowed
    except (binascii.Error, ValueError):
        raise PushError(f'{key}.Content is not valid base64') from None


def keepalive(body: bytes) -> None:
    """A heartbeat: JSON (its content is informative only). Raises PushError when it is not JSON."""
    if body.strip():
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PushError(f'malformed KeepAlive JSON: {exc}') from None
