"""Hikvision ISAPI event pushes (the camera's "HTTP listening" / alarm
server) -> CameraRead. No ROS here.

A push is a POST whose body is either the ``EventNotificationAlert`` XML
alone, or ``multipart/form-data`` with the XML part (e.g. ``anpr.xml``) and
the pictures the camera was set to send (``licensePlatePicture.jpg``: the
plate; ``detectionPicture.jpg``: the scene; ``vehiclePicture.jpg``: the
vehicle). Fields used (ISAPI ``XML_EventNotificationAlert_ANPR``):
``eventType`` (ANPR), ``dateTime``, ``ipAddress``, ``channelID``, ``UUID``,
``isDataRetransmission`` and in ``ANPR``: ``licensePlate``,
``confidenceLevel`` (0..100), ``direction`` (forward / reverse / unknown),
``country``, ``vehicleType``, ``vehicleInfo/color``, and
``pictureInfoList/pictureInfo`` (``fileName``, ``type``), which names the
parts. Other event types (heartbeats: ``videoloss`` / ``inactive``) are not
plate events: ``parse`` returns None for them.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from email.parser import BytesParser
from email.policy import HTTP

from lpr_ingest.event import (APPROACHING, HIKVISION, LEAVING, CameraRead, PushError, clean_plate, percent,
                              stamp_ns)

# ANPR direction -> ours. "forward": the vehicle comes towards the camera.
DIRECTIONS = {'forward': APPROACHING, 'reverse': LEAVING}
NO_PLATE = {'', 'unknown', '无车牌'}   # no plate read ('无车牌': "no plate")
PLATE_PICTURES = ('licenseplatepicture',)
SCENE_PICTURES = ('detectionpicture', 'backgroundpicture', 'vehiclepicture')


def parse(content_type: str, body: bytes, client: str = '') -> CameraRead | None:
    """The plate event of one push; None for a push that is not ANPR.
    Raises PushError for a push that cannot be read (malformed XML or multipart)."""
    ctype = (content_type or '').lower()
    if ctype.startswith('multipart/'):
        xml, pictures = _split_multipart(content_type, body)
    elif 'xml' in ctype or body.lstrip().startswith(b'<'):
        xml, pictures = body, {}
    else:
        raise PushError(f'expected XML or multipart/form-data, got {content_type or "no content type"!r}')
    return from_xml(xml, pictures, client)


def _split_multipart(content_type: str, body: bytes) -> tuple[bytes, dict[str, bytes]]:
    """(the XML part, {picture name (lower case, no extension): bytes})."""
    if 'boundary=' not in content_type.lower():
        raise PushError('multipart push without a boundary')
    message = BytesParser(policy=HTTP).parsebytes(
        b'Content-Type: ' + content_type.encode('latin-1') + b'\r\n\r\n' + body)
    if not message.is_multipart() or message.defects:
        raise PushError(f'malformed multipart body ({_defects(message) or "no parts"})')
    xml, pictures = None, {}
    for part in message.iter_parts():
        if part.defects:
            raise PushError(f'malformed multipart part ({_defects(part)})')
        data = part.get_payload(decode=True) or b''
        name = (part.get_param('name', header='content-disposition') or part.get_filename() or '')
        if xml is None and ('xml' in part.get_content_type() or name.lower().endswith('.xml')):
            xml = data
        elif data:
            pictures[name.lower().rsplit('.', 1)[0]] = data
    if xml is None:
        raise PushError('multipart push without an XML part')
    return xml, pictures


def _defects(message) -> str:
    return ', '.join(type(d).__name__ for d in message.defects)


def _local(tag: str) -> str:
    return tag.rsplit('}', 1)[-1]


def _strip_namespaces(root: ET.Element) -> ET.Element:
    for element in root.iter():
        element.tag = _local(element.tag)
    return root


def _text(element: ET.Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or '').strip() if found is not None else ''


def from_xml(xml: bytes, pictures: dict[str, bytes] | None = None, client: str = '') -> CameraRead | None:
    if b'<!DOCTYPE' in xml or b'<!ENTITY' in xml:
        raise PushError('XML with a DOCTYPE or entities is refused')
    try:
        root = _strip_namespaces(ET.fromstring(xml))
    except ET.ParseError as exc:
        raise PushError(f'malformed XML: {exc}') from None
    if root.tag != 'EventNotificationAlert':
        raise PushError(f'expected EventNotificationAlert, got <{root.tag}>')
    anpr = root.find('ANPR')
    if _text(root, 'eventType').upper() != 'ANPR' or anpr is None:
        return None
    plate = clean_plate(_text(anpr, 'licensePlate'))
    if plate.lower() in NO_PLATE:
        return None
    when = _text(root, 'dateTime')
    if not when:
        raise PushError('ANPR event without dateTime')
    plate_jpeg, scene_jpeg = _pictures(anpr, pictures or {})
    return CameraRead(
        source=HIKVISION, camera_id=_camera(root, client), stamp_ns=stamp_ns(when), plate=plate,
        confidence=percent(_text(anpr, 'confidenceLevel'), 'confidenceLevel'),
        vendor_event_id=_text(root, 'UUID') or _text(root, 'uuid'),
        region=_text(anpr, 'country'), direction=DIRECTIONS.get(_text(anpr, 'direction').lower(), ''),
        vehicle_type=_text(anpr, 'vehicleType'), vehicle_color=_text(anpr, 'vehicleInfo/color'),
        plate_jpeg=plate_jpeg, scene_jpeg=scene_jpeg,
        retransmitted=_text(root, 'isDataRetransmission').lower() == 'true')


def _camera(root: ET.Element, client: str) -> str:
    """The device's address (as it says, else where the push came from), and
    the channel when it is not the first."""
    address = _text(root, 'ipAddress') or _text(root, 'macAddress') or client or 'hikvision'
    channel = _text(root, 'channelID')
    return address if channel in ('', '1') else f'{address}:{channel}'


def _pictures(anpr: ET.Element, parts: dict[str, bytes]) -> tuple[bytes | None, bytes | None]:
    """(plate picture, scene picture): parts named by type, or by their
    pictureInfo entry (fileName -> type) when the names differ."""
    by_type = dict(parts)
    for info in anpr.iterfind('pictureInfoList/pictureInfo'):
        name = _text(info, 'fileName').lower().rsplit('.', 1)[0]
        kind = _text(info, 'type').lower()
        if name in parts and kind:
            by_type.setdefault(kind, parts[name])
    plate = next((by_type[k] for k in PLATE_PICTURES if by_type.get(k)), None)
    scene = next((by_type[k] for k in SCENE_PICTURES if by_type.get(k)), None)
    return plate, scene
