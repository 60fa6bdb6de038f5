"""Plate events from ANPR cameras (lpr_ingest): Hikvision ISAPI and Dahua
ITSAPI pushes, FTP uploads. The messages are built here the way the vendors'
integration documents describe them (no captured files are downloaded)."""
from __future__ import annotations

import base64
import datetime as dt
import ftplib
import io
import json
import os
import socket
import urllib.error
import urllib.request
import uuid

import cv2
import numpy as np
import pytest

from lpr_ingest import dahua, hikvision
from lpr_ingest.auth import REALM, DigestAuth
from lpr_ingest.event import APPROACHING, DAHUA, FTP, HIKVISION, LEAVING, PushError
from lpr_ingest.ftp import UNPARSED, FtpServer, NamePattern, UploadIngest
from lpr_ingest.server import IngestServer
import test_nodes
from test_nodes import make, wait_for

ros = test_nodes.ros   # the in-process ROS fixture (rclpy context + executor thread)
USER, PASSWORD = 'cam', 's3cret-pass'
EVENT_UUID = '8f0d5c2e-4b6a-4e1f-9c3d-2a7b1e6f0c94'


# -- realistic messages -------------------------------------------------------
def jpeg(width: int, height: int, text: str = '') -> bytes:
    image = np.full((height, width, 3), 200, np.uint8)
    if text:
        cv2.putText(image, text, (8, height - 12), cv2.FONT_HERSHEY_DUPLEX, height / 40, (20, 20, 20), 2)
    return cv2.imencode('.jpg', image)[1].tobytes()


PLATE_JPEG, SCENE_JPEG = jpeg(240, 60, 'GKW5KE2'), jpeg(640, 360, 'scene')


def anpr_xml(plate: str = 'GKW5KE2', retransmission: bool = False, uuid_: str = EVENT_UUID,
             event_type: str = 'ANPR') -> bytes:
    """XML_EventNotificationAlert_ANPR as a camera in "HTTP listening" mode sends it."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>10.10.10.243</ipAddress>
<portNo>80</portNo>
<protocol>HTTP</protocol>
<macAddress>68:6d:bc:7d:9e:27</macAddress>
<channelID>1</channelID>
<dateTime>2026-12-02T14:51:24.120+08:00</dateTime>
<activePostCount>{2 if retransmission else 1}</activePostCount>
<eventType>{event_type}</eventType>
<eventState>active</eventState>
<eventDescription>ANPR alarm</eventDescription>
<channelName>Gate</channelName>
<ANPR>
<country>PL</country>
<licensePlate>{plate}</licensePlate>
<line>1</line>
<direction>reverse</direction>
<confidenceLevel>93</confidenceLevel>
<plateType>unknown</plateType>
<plateColor>white</plateColor>
<vehicleType>vehicle</vehicleType>
<detectDir>8</detectDir>
<vehicleInfo><index>1</index><colorDepth>2</colorDepth><color>white</color></vehicleInfo>
<pictureInfoList>
<pictureInfo><fileName>licensePlatePicture.jpg</fileName><type>licensePlatePicture</type><dataType>0</dataType></pictureInfo>
<pictureInfo><fileName>detectionPicture.jpg</fileName><type>detectionPicture</type><dataType>0</dataType>
<plateRect><X>408</X><Y>470</Y><width>149</width><height>31</height></plateRect></pictureInfo>
</pictureInfoList>
</ANPR>
<UUID>{uuid_}</UUID>
<picNum>2</picNum>
<isDataRetransmission>{'true' if retransmission else 'false'}</isDataRetransmission>
</EventNotificationAlert>""".encode()


def multipart(parts: list[tuple[str, str, bytes]], boundary: str = 'boundary') -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data push: (name, content type, data) per part."""
    out = io.BytesIO()
    for name, ctype, data in parts:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                  f'Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n'
                  f'Content-ID: {name.rsplit(".", 1)[0]}\r\n\r\n'.encode())
        out.write(data + b'\r\n')
    out.write(f'--{boundary}--\r\n'.encode())
    return f'multipart/form-data; boundary={boundary}', out.getvalue()


def hikvision_push(**kwargs) -> tuple[str, bytes]:
    return multipart([('anpr.xml', 'text/xml; charset="UTF-8"', anpr_xml(**kwargs)),
                      ('licensePlatePicture.jpg', 'image/jpeg', PLATE_JPEG),
                      ('detectionPicture.jpg', 'image/jpeg', SCENE_JPEG)])


def tollgate(plate: str = 'ab 123 cd', content: bytes = SCENE_JPEG) -> bytes:
    """A Dahua ITSAPI TollgateInfo push."""
    b64 = lambda data: base64.b64encode(data).decode()   # noqa: E731
    return json.dumps({'Picture': {
        'Plate': {'PlateNumber': plate, 'PlateColor': 'Yellow', 'Confidence': 87, 'BoundingBox': [1000, 2000, 3000, 2500]},
        'Vehicle': {'VehicleType': 'SaloonCar', 'VehicleColor': 'Black'},
        'SnapInfo': {'DeviceID': 'ITC-gate-2', 'AccurateTime': '2026-12-02 14:51:24.120', 'Direction': 'Approach',
                     'AllowUser': False, 'BlockUser': False},
        'CutoutPic': {'Content': b64(PLATE_JPEG), 'PicName': 'cutout.jpg'},
        'NormalPic': {'Content': b64(content), 'PicName': 'normal.jpg'}}}).encode()


# -- parsing ------------------------------------------------------------------
def test_hikvision_push_gives_plate_time_pictures_and_a_stable_event_id():
    ctype, body = hikvision_push()
    read = hikvision.parse(ctype, body)
    assert (read.source, read.plate, read.camera_id, read.region) == (HIKVISION, 'GKW5KE2', '10.10.10.243', 'PL')
    assert read.confidence == pytest.approx(0.93) and read.direction == LEAVING
    assert (read.vehicle_type, read.vehicle_color) == ('vehicle', 'white')
    utc = dt.datetime(2026, 12, 2, 6, 51, 24, 120000, dt.timezone.utc)   # 14:51:24.120+08:00
    assert read.stamp_ns == int(utc.timestamp() * 1e6) * 1000
    assert read.plate_jpeg == PLATE_JPEG and read.scene_jpeg == SCENE_JPEG
    assert read.vendor_event_id == EVENT_UUID and not read.retransmitted
    again = hikvision.parse(*hikvision_push(retransmission=True))
    assert again.retransmitted and again.event_id == read.event_id
    assert uuid.UUID(read.event_id).version == 5
    other = hikvision.parse(*hikvision_push(uuid_='0b8e2f3a-1c4d-4e5f-8a9b-0c1d2e3f4a5b'))
    assert other.event_id != read.event_id


def test_hikvision_parts_are_found_by_the_picture_list_and_xml_alone_is_a_push():
    xml = anpr_xml()
    renamed = xml.replace(b'<fileName>licensePlatePicture.jpg', b'<fileName>p1.jpg')
    ctype, body = multipart([('anpr.xml', 'application/xml', renamed), ('p1.jpg', 'image/jpeg', PLATE_JPEG)])
    read = hikvision.parse(ctype, body)
    assert read.plate_jpeg == PLATE_JPEG and read.scene_jpeg is None
    bare = hikvision.parse('application/xml; charset="UTF-8"', xml)
    assert bare.plate == 'GKW5KE2' and bare.plate_jpeg is None and bare.event_id == read.event_id


def test_a_heartbeat_or_an_unread_plate_is_no_event():
    heartbeat = anpr_xml(event_type='videoloss').replace(b'<eventState>active', b'<eventState>inactive')
    assert hikvision.parse('application/xml', heartbeat) is None
    assert hikvision.parse(*hikvision_push(plate='unknown')) is None


@pytest.mark.parametrize('ctype, body, reason', [
    ('application/xml', b'<EventNotificationAlert><eventType>ANPR</eventType><ANPR>', 'malformed XML'),
    ('application/xml', b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 'DOCTYPE'),
    ('application/xml', b'<Other/>', 'expected EventNotificationAlert'),
    ('application/xml', anpr_xml().replace(b'2026-12-02T14:51:24.120+08:00', b'yesterday'), 'not a time'),
    ('application/xml', anpr_xml().replace(b'>93<', b'>930<'), 'within 0..100'),
    ('multipart/form-data; boundary=boundary', hikvision_push()[1][:2000], 'malformed multipart'),
    ('multipart/form-data; boundary=boundary', b'no boundary anywhere', 'malformed multipart'),
    (*multipart([('licensePlatePicture.jpg', 'image/jpeg', PLATE_JPEG)]), 'without an XML part'),
    ('multipart/form-data', b'--x\r\n', 'without a boundary'),
    ('image/jpeg', PLATE_JPEG, 'expected XML or multipart'),
])
def test_malformed_hikvision_pushes_are_refused_with_the_reason(ctype, body, reason):
    with pytest.raises(PushError, match=reason):
        hikvision.parse(ctype, body)


def test_dahua_push_gives_plate_time_pictures_and_a_stable_event_id():
    read = dahua.parse(tollgate())
    assert (read.source, read.plate, read.camera_id, read.direction) == (DAHUA, 'AB123CD', 'ITC-gate-2', APPROACHING)
    assert read.confidence == pytest.approx(0.87)
    assert (read.vehicle_type, read.vehicle_color) == ('SaloonCar', 'Black')
    assert read.plate_jpeg == PLATE_JPEG and read.scene_jpeg == SCENE_JPEG
    assert dahua.parse(tollgate()).event_id == read.event_id          # sent again: same event
    assert dahua.parse(tollgate(plate='AB123CE')).event_id != read.event_id


@pytest.mark.parametrize('body, reason', [
    (b'{"Picture": {"Plate": ', 'malformed JSON'),
    (b'[1, 2]', 'without a "Picture"'),
    (b'{"Picture": {"Plate": {"PlateNumber": "AB1"}}}', 'without Picture.Plate or Picture.SnapInfo'),
    (tollgate().replace(b'"AccurateTime"', b'"Other"'), 'without SnapInfo.AccurateTime'),
    (tollgate().replace(b'"Content": "', b'"Content": "%%'), 'not valid base64'),
    (tollgate().replace(b'"Confidence": 87', b'"Confidence": "high"'), 'not a number'),
    (tollgate().replace(b'"Vehicle": {', b'"Vehicle": 3, "x": {'), 'Vehicle is not an object'),
])
def test_malformed_dahua_pushes_are_refused_with_the_reason(body, reason):
    with pytest.raises(PushError, match=reason):
        dahua.parse(body)


def test_digest_accepts_the_password_and_refuses_anything_else():
    import hashlib
    auth = DigestAuth(USER, PASSWORD, nonce_ttl_s=60)
    nonce = auth.challenge().split('nonce="')[1].split('"')[0]

    def header(password=PASSWORD, uri='/anpr', nonce=nonce, user=USER):
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()   # noqa: E731
        ha1, ha2 = md5(f'{user}:{REALM}:{password}'), md5(f'POST:{uri}')
        response = md5(f'{ha1}:{nonce}:00000001:abc:auth:{ha2}')
        return (f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", qop=auth, '
                f'nc=00000001, cnonce="abc", response="{response}", algorithm=MD5')

    assert auth.check('POST', '/anpr', header()) == 'ok'
    assert auth.check('POST', '/anpr', header(password='wrong')) == 'refused'
    assert auth.check('POST', '/anpr', header(user='admin')) == 'refused'
    assert auth.check('POST', '/other', header()) == 'refused'           # answer made for another URI
    assert auth.check('POST', '/anpr', header(nonce='123-forged')) == 'refused'
    assert auth.check('POST', '/anpr', 'Basic Y2FtOnMzY3JldC1wYXNz') == 'refused'
    assert auth.check('POST', '/anpr', None) == 'refused'
    old = auth._nonce(at=int(nonce.split('-')[0]) - 120)
    assert auth.check('POST', '/anpr', header(nonce=old)) == 'stale'


# -- the HTTP listener ----------------------------------------------------------
@pytest.fixture
def listener():
    taken, warnings = [], []
    state = {'accept': True}

    def accept(read):
        if state['accept']:
            taken.append(read)
        return state['accept']

    server = IngestServer('127.0.0.1', 0, accept, DigestAuth(USER, PASSWORD), max_body_bytes=200_000,
                          warn=warnings.append)
    server.start()
    yield server, taken, warnings, state
    server.stop()


def post(port: int, path: str, body: bytes, ctype: str = 'application/json', password: str | None = PASSWORD):
    """(status, body) of a POST, with HTTP Digest when a password is given."""
    handlers = []
    if password is not None:
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, f'http://127.0.0.1:{port}/', USER, password)
        handlers.append(urllib.request.HTTPDigestAuthHandler(manager))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(f'http://127.0.0.1:{port}{path}', data=body, headers={'Content-Type': ctype})
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_listener_takes_pushes_from_both_vendors_with_digest(listener):
    server, taken, _, _ = listener
    assert post(server.port, '/anpr', hikvision_push()[1], hikvision_push()[0]) == (200, b'')
    assert post(server.port, dahua.TOLLGATE, tollgate()) == (200, b'{"Result": true}')
    assert post(server.port, dahua.KEEPALIVE, b'{"DeviceID": "ITC-gate-2"}') == (200, b'{"Result": true}')
    assert [r.plate for r in taken] == ['GKW5KE2', 'AB123CD']
    assert server.counts['accepted'] == 2 and server.counts['keepalives'] == 1


def test_listener_refuses_wrong_or_missing_credentials(listener):
    server, taken, warnings, _ = listener
    ctype, body = hikvision_push()
    assert post(server.port, '/anpr', body, ctype, password='wrong')[0] == 401
    assert post(server.port, '/anpr', body, ctype, password=None)[0] == 401
    assert post(server.port, dahua.TOLLGATE, tollgate(), password='wrong')[0] == 401
    assert taken == [] and server.counts['auth_refused'] >= 2
    assert any('wrong credentials' in w for w in warnings)


def test_a_malformed_push_is_answered_400_logged_and_the_listener_keeps_serving(listener):
    server, taken, warnings, _ = listener
    status, answer = post(server.port, '/anpr', b'<EventNotificationAlert><ANPR>', 'application/xml')
    assert status == 400 and b'malformed XML' in answer
    assert post(server.port, dahua.TOLLGATE, b'{"Picture": ')[0] == 400
    assert post(server.port, '/anpr', hikvision_push()[1][:3000], hikvision_push()[0])[0] == 400
    assert server.counts['malformed'] == 3 and len(warnings) == 3 and 'malformed XML' in warnings[0]
    assert post(server.port, '/anpr', hikvision_push()[1], hikvision_push()[0])[0] == 200
    assert [r.plate for r in taken] == ['GKW5KE2']


def test_an_oversize_push_is_refused_before_its_body_is_read(listener):
    server, taken, warnings, _ = listener
    big = tollgate(content=os.urandom(160_000))    # ~215 kB once base64-encoded, over the 200 kB limit
    assert post(server.port, dahua.TOLLGATE, big)[0] == 413
    assert taken == [] and server.counts['oversize'] == 1 and 'max_body_bytes' in warnings[0]
    assert post(server.port, dahua.TOLLGATE, tollgate())[0] == 200


def test_a_push_that_cannot_be_passed_on_is_answered_503_so_the_camera_resends_it(listener):
    server, taken, _, state = listener
    state['accept'] = False
    assert post(server.port, dahua.TOLLGATE, tollgate())[0] == 503
    state['accept'] = True
    assert post(server.port, dahua.TOLLGATE, tollgate())[0] == 200 and len(taken) == 1


# -- FTP ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def ftp_server(tmp_path):
    taken, warnings = [], []
    pattern = NamePattern.compile(r'(?P<camera>[^_]+)_(?P<time>\d{17})_(?P<plate>[0-9A-Z]+)\.jpg', '%Y%m%d%H%M%S%f')
    ingest = UploadIngest(tmp_path / 'ftp', pattern, lambda read: taken.append(read) or True, warnings.append)
    server = FtpServer('127.0.0.1', free_port(), ingest, USER, PASSWORD, max_bytes=100_000)
    server.start()
    yield server, ingest, taken, warnings
    server.stop()


def upload(port: int, name: str, data: bytes, password: str = PASSWORD, folder: str = '') -> None:
    with ftplib.FTP() as ftp:
        ftp.connect('127.0.0.1', port, timeout=10)
        ftp.login(USER, password)
        if folder:
            ftp.mkd(folder)
            ftp.cwd(folder)
        ftp.storbinary(f'STOR {name}', io.BytesIO(data))


def test_ftp_upload_with_a_good_name_becomes_an_event(ftp_server):
    server, ingest, taken, _ = ftp_server
    upload(server.port, 'gate-1_20261202145124120_GKW5KE2.jpg', SCENE_JPEG)
    (read,) = taken
    assert (read.source, read.camera_id, read.plate, read.scene_jpeg) == (FTP, 'gate-1', 'GKW5KE2', SCENE_JPEG)
    assert read.stamp_ns == int(dt.datetime(2026, 12, 2, 14, 51, 24, 120000).timestamp() * 1e6) * 1000
    assert not any(ingest.root.glob('*.jpg'))   # taken: not kept twice


def test_ftp_upload_with_an_unparseable_name_is_kept_and_reported(ftp_server):
    server, ingest, taken, warnings = ftp_server
    upload(server.port, 'snapshot-0001.jpg', SCENE_JPEG, folder='lane2')
    assert taken == [] and ingest.counts['unparsed'] == 1
    kept = ingest.root / UNPARSED / 'lane2_snapshot-0001.jpg'
    assert kept.read_bytes() == SCENE_JPEG and 'does not fit file_pattern' in warnings[0]
    assert ingest.pending() == []   # not offered again at the next start


def test_ftp_refuses_wrong_credentials_and_oversize_uploads(ftp_server):
    server, ingest, taken, _ = ftp_server
    with pytest.raises(ftplib.error_perm, match='530'):
        upload(server.port, 'gate-1_20261202145124120_GKW5KE2.jpg', SCENE_JPEG, password='wrong')
    with pytest.raises(ftplib.error_perm, match='552'):
        upload(server.port, 'gate-1_20261202145124120_GKW5KE2.jpg', os.urandom(400_000))
    assert taken == [] and ingest.counts['oversize'] == 1 and ingest.counts['auth_refused'] == 1
    assert not [p for p in ingest.root.rglob('*') if p.is_file()]   # no partial file left


def test_ftp_upload_waits_in_place_while_it_cannot_be_passed_on(tmp_path):
    pattern = NamePattern.compile(r'(?P<time>\d{17})_(?P<plate>\w+)\.jpg', '%Y%m%d%H%M%S%f')
    ingest = UploadIngest(tmp_path, pattern, lambda read: False)
    path = tmp_path / 'cam9' / '20261202145124120_AB12CDE.jpg'
    path.parent.mkdir()
    path.write_bytes(SCENE_JPEG)
    ingest.take(path)
    assert path.exists() and ingest.pending() == [path] and ingest.counts['not_accepted'] == 1
    with pytest.raises(ValueError, match='plate'):
        NamePattern.compile(r'(?P<time>\d+)\.jpg', '%Y')


# -- the nodes: camera push -> ingest -> recorder -> journal ---------------------
def test_a_hikvision_push_sent_twice_is_journaled_once_with_its_pictures(ros, tmp_path, monkeypatch):
    from lpr_common.node import FAILURE, SUCCESS
    from lpr_ingest.node import IngestNode
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    monkeypatch.delenv('LPR_INGEST_PASSWORD', raising=False)
    refused = make(IngestNode, context, executor, http_port=free_port())
    assert refused.trigger_configure() == FAILURE   # no password and not allow_anonymous
    refused.destroy_node()

    monkeypatch.setenv('LPR_INGEST_PASSWORD', PASSWORD)
    recorder = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                    image_dir=str(tmp_path / 'images'), spool_dir=str(tmp_path / 'spool'))
    port = free_port()
    ingest = make(IngestNode, context, executor, http_port=port, username=USER,
                  camera_names=['10.10.10.243=gate-in'])
    for node in (recorder, ingest):
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    assert wait_for(lambda: ingest.pub.get_subscription_count() > 0)

    ctype, body = hikvision_push()
    assert post(port, '/ISAPI/anpr', body, ctype)[0] == 200
    assert wait_for(lambda: recorder.journal.count() == 1)
    ctype, body = hikvision_push(retransmission=True)   # the same UUID, sent again
    assert post(port, '/ISAPI/anpr', body, ctype)[0] == 200
    assert wait_for(lambda: recorder.status.values.get('ingested_duplicates') == 1)
    assert recorder.journal.count() == 1

    (row,) = recorder.journal.latest()
    assert row.event_id == hikvision.parse(ctype, body).event_id
    assert (row.plate, row.camera_id, row.read_count, row.direction) == ('GKW5KE2', 'gate-in', 1, LEAVING)
    assert row.confidence == pytest.approx(0.93) and row.region == 'PL'
    images = tmp_path / 'images'
    assert (images / row.frame_path).read_bytes() == SCENE_JPEG   # the scene as received
    crop = cv2.imread(str(images / row.plate_path))
    assert crop is not None and crop.shape[:2] == (60, 240)      # the camera's plate picture
    assert ingest.http.counts['accepted'] == 2
    for node in (ingest, recorder):
        node.trigger_deactivate()
        node.destroy_node()


def test_the_ingest_node_is_started_only_on_request(tmp_path):
    from lpr import graph
    from lpr.runner import GraphRunner, RunOptions
    spec = next(s for s in graph.NODES if s.name == 'ingest')
    assert spec.optional and spec.module == 'lpr_ingest.node'
    names = lambda **kw: [s.name for s in GraphRunner(RunOptions(tmp_path / 'p.yaml', **kw)).specs()]   # noqa: E731
    assert 'ingest' not in names() and 'ingest' in names(ingest=True)
    assert names(ingest=True)[:5] == names()
