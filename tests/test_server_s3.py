"""lpr-server's image stores: the local directory (unchanged behaviour) and an
S3-compatible bucket, tested against moto's S3 server on 127.0.0.1 (not AWS,
not MinIO): upload through the real server, read back through the REST API,
one object per image however often an event is sent, none after a failed ingest."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest
import socketio

from lpr_server.api import Api
from lpr_server.images import ImageMissing, LocalImages, S3Images, image_key, open_images, s3_credentials
from lpr_server.models import API
from lpr_server.protocol import Protocol
from lpr_server.store import Store

from sio_server import LprServerProcess, free_port
from test_server_e2e import add_credential

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
JPEG = b'\xff\xd8\xff\xe0' + bytes(1_000)
PLATE_JPEG = b'\xff\xd8\xff\xe0' + b'plate' * 20
SECRET = 'test-secret-access-key'
S3_ENV = {'LPR_SERVER_S3_ACCESS_KEY_ID': 'test-key-id', 'LPR_SERVER_S3_SECRET_ACCESS_KEY': SECRET}
BAD_KEYS = ['', '../x.jpg', '/etc/passwd', 'a/../../b.jpg', 'a//b.jpg', 'a\\b.jpg', './a.jpg']


def event(i: int, **images: bytes) -> dict:
    return {'event_id': str(uuid.UUID(int=i)), 'camera_id': 'cam0', 'plate': f'AB{i:03d}CD',
            'first_seen': (T0 + dt.timedelta(minutes=i)).isoformat(), 'best_seen': T0.isoformat(),
            'images': images or {'frame': JPEG, 'plate': PLATE_JPEG}}


def expected_keys(prefix: str, *events: dict) -> list[str]:
    return sorted(f'{prefix}/{image_key("edge1", T0, e["event_id"], kind)}' for e in events for kind in e['images'])


# --- the local directory -------------------------------------------------------

def files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_file())


def test_local_images_keep_the_key_layout_atomic_writes_and_no_escape(tmp_path):
    store = Store(f'sqlite:///{tmp_path / "server.sqlite"}', tmp_path / 'images')
    try:
        device = store.authenticate(store.add_device('edge1'))
        one = event(1)
        assert Protocol(store).batch(device, [one])['results'][0]['status'] == 'stored'
        assert Protocol(store).batch(device, [one])['results'][0]['status'] == 'duplicate'
        _, _, rows = store.event(one['event_id'])
        assert files(tmp_path / 'images') == [f'edge1/2026/12/01/{one["event_id"]}_{k}.jpg' for k in ('frame', 'plate')]
        assert [r.path for r in rows] == files(tmp_path / 'images')          # the key is the relative path
        assert {r.kind: store.image_bytes(r) for r in rows} == {'frame': JPEG, 'plate': PLATE_JPEG}
    finally:
        store.close()
    images = LocalImages(tmp_path / 'images')
    (tmp_path / 'outside').mkdir()
    (tmp_path / 'images' / 'link').symlink_to(tmp_path / 'outside')
    for bad in BAD_KEYS + ['link/x.jpg']:
        with pytest.raises(ValueError):
            images.put(bad, JPEG)
    assert not list((tmp_path / 'outside').iterdir())


def test_a_local_write_that_fails_leaves_no_file(tmp_path, monkeypatch):
    images = LocalImages(tmp_path / 'images')

    def refuse(*_):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr('os.replace', refuse)
    with pytest.raises(OSError, match='No space left'):
        images.put('edge1/2026/12/01/x_frame.jpg', JPEG)
    assert files(tmp_path / 'images') == []


def test_s3_credentials_come_from_the_environment_or_files(tmp_path):
    secret_file = tmp_path / 'secret'
    secret_file.write_text(SECRET + '\n')
    assert s3_credentials({}) == {}                                       # boto3's own chain
    assert s3_credentials({'LPR_SERVER_S3_ACCESS_KEY_ID': 'id', 'LPR_SERVER_S3_SECRET_ACCESS_KEY_FILE': str(secret_file)}) \
        == {'aws_access_key_id': 'id', 'aws_secret_access_key': SECRET}
    with pytest.raises(OSError, match='give both'):
        s3_credentials({'LPR_SERVER_S3_ACCESS_KEY_ID': 'id'})
    for bad in ('s3:/bucket', 'https://bucket/x', 's3://', 's3://bucket/../x'):
        with pytest.raises(ValueError):
            open_images(bad)


# --- moto's S3 server ----------------------------------------------------------

@pytest.fixture(scope='module')
def s3_endpoint():
    pytest.importorskip('boto3', reason='boto3 not installed (pip install boto3)')
    server_module = pytest.importorskip('moto.server', reason='moto[server] not installed: no S3 server to test against')
    server = server_module.ThreadedMotoServer(ip_address='127.0.0.1', port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f'http://{host}:{port}'
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    """A fresh bucket, and the server's S3 keys in the environment (as a deployment gives them)."""
    import boto3
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    client = boto3.client('s3', endpoint_url=s3_endpoint, region_name='us-east-1',
                          aws_access_key_id='test-key-id', aws_secret_access_key=SECRET)
    name = f'lpr-{uuid.uuid4().hex[:12]}'
    client.create_bucket(Bucket=name)
    return client, name


def object_keys(client, bucket: str) -> list[str]:
    return sorted(o['Key'] for o in client.list_objects_v2(Bucket=bucket).get('Contents', []))


@pytest.fixture(params=['local', 's3'])
def images(request, tmp_path):
    if request.param == 'local':
        return LocalImages(tmp_path / 'images')
    client, name = request.getfixturevalue('bucket')
    return S3Images(name, 'pre/fix', endpoint_url=request.getfixturevalue('s3_endpoint'))


def test_each_store_puts_replaces_gets_and_deletes_by_key(images):
    key = image_key('edge1', T0, str(uuid.UUID(int=1)), 'frame')
    assert key == f'edge1/2026/12/01/{uuid.UUID(int=1)}_frame.jpg'
    images.check()
    images.put(key, JPEG)
    images.put(key, PLATE_JPEG)                 # the same key again: replaced, never a second copy
    assert images.get(key) == PLATE_JPEG
    images.delete(key)
    images.delete(key)                          # deleting what is not there is no error
    with pytest.raises(ImageMissing):
        images.get(key)
    for bad in BAD_KEYS:
        with pytest.raises(ValueError):
            images.put(bad, JPEG)


def s3_server(server_dir, s3_endpoint: str, bucket: str) -> LprServerProcess:
    return LprServerProcess(server_dir, args=('--images', f's3://{bucket}/lpr', '--s3-endpoint-url', s3_endpoint))


def upload(server, token: str, events: list[dict]) -> dict:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, auth={'token': token}, wait_timeout=5, retry=False)
    try:
        return client.call('lpr_batch', events, timeout=30)
    finally:
        client.disconnect()


def rest_get(server, key: str, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(server.url + path, headers={'Authorization': f'Bearer {key}'})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_events_go_to_the_bucket_once_and_come_back_through_the_rest_api(tmp_path, s3_endpoint, bucket):
    client, name = bucket
    server_dir = tmp_path / 'server'
    token, api_key = add_credential(server_dir, 'edge1'), add_credential(server_dir, 'reader', API)
    batch = [event(1), event(2, frame=JPEG)]
    with s3_server(server_dir, s3_endpoint, name) as server:
        assert [r['status'] for r in upload(server, token, batch)['results']] == ['stored', 'stored']
        assert [r['status'] for r in upload(server, token, batch)['results']] == ['duplicate', 'duplicate']
        assert object_keys(client, name) == expected_keys('lpr', *batch)      # one object per image
        one = json.loads(rest_get(server, api_key, f'/api/events/{batch[0]["event_id"]}')[1])
        served = {i['kind']: rest_get(server, api_key, i['url']) for i in one['images']}
        assert served == {'frame': (200, JPEG), 'plate': (200, PLATE_JPEG)}
        client.delete_object(Bucket=name, Key=expected_keys('lpr', batch[1])[0])
        assert rest_get(server, api_key, f'/api/events/{batch[1]["event_id"]}/images/frame')[0] == 410
    log = (server_dir / 'server.log').read_text()
    assert f's3://{name}/lpr' in log and SECRET not in log
    assert not list(server_dir.rglob('*.jpg'))                              # nothing in the local directory


def test_a_failed_ingest_leaves_no_object_and_its_resend_one_per_image(tmp_path, s3_endpoint, bucket):
    client, name = bucket
    server_dir = tmp_path / 'server'
    token = add_credential(server_dir, 'edge1')
    with sqlite3.connect(server_dir / 'server.sqlite') as db:             # the image rows fail: after the puts
        db.execute("CREATE TRIGGER refuse_images BEFORE INSERT ON images "
                   "BEGIN SELECT RAISE(ABORT, 'test: image rows refused'); END")
    batch = [event(1), event(2)]
    with s3_server(server_dir, s3_endpoint, name) as server:
        reply = upload(server, token, batch)
        assert reply['status'] == 'error' and reply['retry'] is True
        assert object_keys(client, name) == []
        with sqlite3.connect(server_dir / 'server.sqlite') as db:
            db.execute('DROP TRIGGER refuse_images')
        assert [r['status'] for r in upload(server, token, batch)['results']] == ['stored', 'stored']
        assert [r['status'] for r in upload(server, token, batch)['results']] == ['duplicate', 'duplicate']
    assert object_keys(client, name) == expected_keys('lpr', *batch)


def test_an_unreachable_bucket_or_a_bad_url_stops_the_server_at_start(tmp_path, s3_endpoint, bucket):
    for images in ('s3://no-such-bucket/lpr', 's3:/typo'):
        done = subprocess.run([sys.executable, '-m', 'lpr_server', 'serve', '--data-dir', str(tmp_path),
                               '--port', str(free_port()), '--images', images, '--s3-endpoint-url', s3_endpoint],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and done.stderr.startswith('error: '), done.stderr
        assert SECRET not in done.stderr


def test_a_bucket_that_fails_is_answered_retry_on_upload_and_503_on_read(tmp_path, s3_endpoint, bucket):
    client, name = bucket
    store = Store(f'sqlite:///{tmp_path / "server.sqlite"}', S3Images(name, 'lpr', endpoint_url=s3_endpoint))
    try:
        device, api_key = store.authenticate(store.add_device('edge1')), store.add_device('reader', API)
        assert Protocol(store).batch(device, [event(1, frame=JPEG)])['results'][0]['status'] == 'stored'
        client.delete_object(Bucket=name, Key=expected_keys('lpr', event(1, frame=JPEG))[0])
        client.delete_bucket(Bucket=name)                                   # the bucket is gone
        reply = Protocol(store).batch(device, [event(2)])
        assert reply['status'] == 'error' and reply['retry'] is True and store.count() == 1
        response = Api(store).handle('GET', f'/api/events/{uuid.UUID(int=1)}/images/frame', {}, api_key)
        assert response.status == 503
    finally:
        store.close()
