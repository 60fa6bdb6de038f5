"""The bridge against the real lpr-server (a subprocess on 127.0.0.1): outage
and restart without loss or duplicates, poison events, tokens, TLS, bad input."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import socketio

from lpr_bridge.sender import SenderLoop
from lpr_bridge.socketio_transport import SocketIoTransport
from lpr_bridge.uploader import TransportError, Uploader
from lpr_recorder.journal import DEAD_LETTER, PENDING, SENT, Event, Journal, sqlite_url
from lpr_server.models import API
from lpr_server.store import Store

from sio_server import LprServerProcess

UTC = dt.timezone.utc
JPEG = b'\xff\xd8\xff\xe0' + bytes(2_000)


def add_events(journal, plates, image_root):
    now = dt.datetime.now(UTC)
    for i, plate in enumerate(plates):
        rel = f'cam0/{i}_frame.jpg'
        (image_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (image_root / rel).write_bytes(JPEG)
        journal.add(Event(event_id=str(uuid.UUID(int=i + 1)), camera_id='cam0', plate=plate, confidence=0.9,
                          first_seen=now, last_seen=now, best_seen=now, created_at=now, frame_path=rel))


def wait_for(condition, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def server_event_ids(data_dir) -> list[str]:
    with sqlite3.connect(f'file:{data_dir / "server.sqlite"}?mode=ro', uri=True, timeout=10) as db:
        return [r[0] for r in db.execute('SELECT event_id FROM events ORDER BY id')]


def server_count(data_dir) -> int:
    try:
        with sqlite3.connect(f'file:{data_dir / "server.sqlite"}?mode=ro', uri=True, timeout=10) as db:
            return db.execute('SELECT count(*) FROM events').fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def add_credential(data_dir, name: str, role: str = 'device') -> str:
    store = Store(f'sqlite:///{data_dir / "server.sqlite"}', data_dir / 'images')
    try:
        return store.add_device(name, role)
    finally:
        store.close()


@pytest.fixture
def edge(tmp_path):
    journal = Journal(sqlite_url(tmp_path / 'edge' / 'journal.sqlite'))
    yield journal, tmp_path / 'edge' / 'images'
    journal.close()


@pytest.fixture
def server_dir(tmp_path):
    return tmp_path / 'server'


def journal_order(journal) -> list[str]:
    return [e.event_id for e in reversed(journal.latest(100_000))]


def test_outage_1000_events_arrive_exactly_once_in_commit_order(edge, server_dir):
    journal, images = edge
    add_events(journal, [f'AB{i:04d}' for i in range(1000)], images)
    token = add_credential(server_dir, 'edge1')
    server = LprServerProcess(server_dir)
    transport = SocketIoTransport(server.url, token=token, timeout_s=10, allow_insecure=True)
    states = []
    loop = SenderLoop(Uploader(journal, transport, images, 'edge1', batch=100), poll_s=0.2,
                      retry_initial_s=0.2, retry_max_s=1.0, on_state=lambda s, d: states.append(s))
    loop.start()
    try:
        assert wait_for(lambda: 'retrying' in states, 10)
        assert journal.count(PENDING) == 1000           # the server is down: all queued
        server.start()
        started = time.monotonic()
        assert wait_for(lambda: journal.count(SENT) == 1000, 180, 0.1)
        elapsed = time.monotonic() - started
    finally:
        loop.stop()
        transport.close()
        server.stop()
    ids = server_event_ids(server_dir)
    assert ids == journal_order(journal) and len(set(ids)) == 1000
    print(f'\noutage: 1000 events (2 kB image each) delivered in {elapsed:.1f} s after the server '
          f'returned ({1000 / elapsed:.0f} events/s)')


def test_server_killed_mid_batch_and_restarted_no_duplicates(edge, server_dir):
    journal, images = edge
    add_events(journal, [f'CD{i:04d}' for i in range(1000)], images)
    token = add_credential(server_dir, 'edge1')
    server = LprServerProcess(server_dir).start()
    transport = SocketIoTransport(server.url, token=token, timeout_s=5, allow_insecure=True)
    loop = SenderLoop(Uploader(journal, transport, images, 'edge1', batch=100), poll_s=0.2,
                      retry_initial_s=0.2, retry_max_s=1.0)
    loop.start()
    try:
        assert wait_for(lambda: server_count(server_dir) >= 300, 120, 0.01)
        server.kill()                                    # SIGKILL, whatever it was doing
        stored, marked = server_count(server_dir), journal.count(SENT)
        time.sleep(1.0)
        server.start()
        assert wait_for(lambda: journal.count(SENT) == 1000, 180, 0.1)
    finally:
        loop.stop()
        transport.close()
        server.stop()
    ids = server_event_ids(server_dir)
    assert ids == journal_order(journal) and len(set(ids)) == 1000
    print(f'\nkill: server had {stored} events, the edge had {marked} marked sent at the SIGKILL; '
          f'{stored - marked} were resent and answered as duplicates')


def test_a_poison_event_is_dead_lettered_with_the_reason_and_the_others_arrive(edge, server_dir):
    journal, images = edge
    add_events(journal, ['GOOD1', "X'; DROP TABLE events;--", 'GOOD2', '<b>X</b>', 'GOOD3'], images)
    token = add_credential(server_dir, 'edge1')
    with LprServerProcess(server_dir) as server:
        transport = SocketIoTransport(server.url, token=token, timeout_s=5, allow_insecure=True)
        uploader = Uploader(journal, transport, images, 'edge1')
        assert uploader.run_once() == 5
        transport.close()
    assert server_event_ids(server_dir) == [str(uuid.UUID(int=i)) for i in (1, 3, 5)]
    dead = {e.plate: e for e in journal.latest(10) if e.upload_state == DEAD_LETTER}
    assert set(dead) == {"X'; DROP TABLE events;--", '<b>X</b>'}
    assert all(e.upload_error.startswith('rejected by the server: plate must contain only letters')
               for e in dead.values())
    assert journal.count(SENT) == 3 and uploader.status()['dead_lettered'] == 2
    assert len(list((server_dir / 'images').rglob('*.jpg'))) == 3    # no image of a refused event


def test_wrong_missing_or_revoked_tokens_are_refused_and_nothing_is_stored(edge, server_dir):
    journal, images = edge
    add_events(journal, ['AB0001'], images)
    token = add_credential(server_dir, 'edge1')
    api_key = add_credential(server_dir, 'reader', API)
    with LprServerProcess(server_dir) as server:
        for bad in ('lpr_wrong', '', api_key):
            transport = SocketIoTransport(server.url, token=bad, timeout_s=5, allow_insecure=True)
            with pytest.raises(TransportError, match='missing, unknown or revoked device token'):
                Uploader(journal, transport, images).run_once()
            transport.close()
        # Connected with a good token, then revoked: the next batch is refused, the row stays queued.
        transport = SocketIoTransport(server.url, token=token, timeout_s=5, allow_insecure=True)
        transport.connect()
        revoked = subprocess.run([sys.executable, '-m', 'lpr_server', 'device', 'revoke', 'edge1',
                                  '--data-dir', str(server_dir)], check=True, capture_output=True, text=True)
        assert revoked.stdout.strip() == 'revoked edge1'
        with pytest.raises(TransportError, match='device token revoked'):
            Uploader(journal, transport, images).run_once()
        transport.close()
        transport = SocketIoTransport(server.url, token=token, timeout_s=5, allow_insecure=True)
        with pytest.raises(TransportError, match='revoked device token'):
            transport.connect()
    assert server_count(server_dir) == 0 and journal.count(PENDING) == 1


def test_bad_input_is_answered_with_reasons_and_the_connection_stays_up(server_dir):
    token = add_credential(server_dir, 'edge1')
    good = {'event_id': str(uuid.UUID(int=7)), 'camera_id': 'cam0', 'plate': 'AB12CDE',
            'first_seen': '2026-12-01T08:00:00+00:00', 'images': {'frame': JPEG}}
    with LprServerProcess(server_dir, args=('--max-image-bytes', '100000')) as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, auth={'token': token}, wait_timeout=5, retry=False)
        try:
            def call(event, data):
                return client.call(event, data, timeout=10)
            replies = call('lpr_batch', [
                {**good, 'event_id': str(uuid.UUID(int=1)), 'images': {'frame': b'\xff\xd8' + bytes(200_000)}},
                {**good, 'event_id': str(uuid.UUID(int=2)), 'plate': b'\xc3\x28'},      # bytes, not text
                {**good, 'event_id': str(uuid.UUID(int=3)), 'plate': 'AB\udc80'},       # lone surrogate
                {**good, 'event_id': str(uuid.UUID(int=4)), 'speed': 30},
                {**good, 'event_id': str(uuid.UUID(int=5)), 'confidence': '0.9'},
                [1, 2, 3], None,
            ])['results']
            reasons = [r['error'] for r in replies]
            assert all(r['status'] == 'rejected' for r in replies)
            assert 'over the 100000-byte limit' in reasons[0] and 'plate must be a string' in reasons[1]
            assert 'plate is not valid UTF-8' in reasons[2] and 'unknown field(s) speed' in reasons[3]
            assert 'confidence must be a number' in reasons[4] and 'must be an object' in reasons[5]
            assert call('lpr_batch', 'nonsense') == {'status': 'error', 'error': 'a batch must be a list of events'}
            assert call('lpr_batch', {'event_id': 1})['status'] == 'error'
            assert call('no_such_message', {'a': 1}) == {'status': 'error', 'error': "unknown message 'no_such_message'"}
            assert call('heartbeat', 'up')['status'] == 'error'
            assert client.connected
            assert call('lpr_batch', [good])['results'] == [{'event_id': good['event_id'], 'status': 'stored'}]
        finally:
            client.disconnect()
    assert server_event_ids(server_dir) == [good['event_id']]


def test_legacy_message_from_a_token_holding_device(server_dir):
    token = add_credential(server_dir, 'edge-old')
    message = {'table': 'lpr_detection', 'data': {
        'license_plate': 'KA01AB1234', 'checkpoint_id': 'gate-3', 'timestamp': '2026-12-01T08:00:00+00:00',
        'hostname': 'pi-7', 'vehicle_type': 'car', 'vehicle_color': 'red', 'latitude': 12.9, 'longitude': 77.6,
        'image': ''}}
    with LprServerProcess(server_dir) as server:
        anonymous = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            anonymous.connect(server.url, wait_timeout=5, retry=False)
        client = socketio.Client(reconnection=False)
        client.connect(server.url, headers={'Authorization': f'Bearer {token}'}, wait_timeout=5, retry=False)
        try:
            for name in ('lpr_detection', 'lpr_event', 'lpr_detection'):
                assert client.call(name, message, timeout=10) == {'status': 'success'}
        finally:
            client.disconnect()
    assert server_count(server_dir) == 1


def test_rest_api_over_http_and_device_health_from_the_heartbeat(edge, server_dir):
    journal, images = edge
    add_events(journal, ['AB12CDE', 'XY34ZZZ'], images)
    token = add_credential(server_dir, 'edge1')
    key = add_credential(server_dir, 'reader', API)
    with LprServerProcess(server_dir) as server:
        transport = SocketIoTransport(server.url, token=token, timeout_s=5, allow_insecure=True)
        uploader = Uploader(journal, transport, images, 'edge1')
        uploader.run_once()
        uploader.send_heartbeat()
        transport.close()

        def get(path):
            request = urllib.request.Request(server.url + path, headers={'Authorization': f'Bearer {key}'})
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.headers['content-type'], response.read()

        kind, body = get('/api/events?plate=12c')
        (found,) = json.loads(body)['events']
        assert kind == 'application/json' and found['plate'] == 'AB12CDE' and found['device'] == 'edge1'
        one = json.loads(get(f'/api/events/{found["event_id"]}')[1])
        assert get(one['images'][0]['url']) == ('image/jpeg', JPEG)
        (device,) = json.loads(get('/api/devices')[1])['devices']
        assert device['health'] == 'online' and device['status']['queued'] == 0
        assert device['status']['sent'] == 2 and device['last_address'] == '127.0.0.1'
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + '/api/events', timeout=10)
        assert refused.value.code == 401


# --- TLS ---------------------------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(['openssl', *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope='module')
def certificates(tmp_path_factory):
    """A test CA, a server certificate it signed for 127.0.0.1, and an unrelated CA."""
    if not shutil.which('openssl'):
        pytest.skip('openssl not installed')
    d = tmp_path_factory.mktemp('tls')
    for ca in ('ca', 'other_ca'):
        _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f'{ca}.key', '-out', f'{ca}.pem',
                 '-days', '2', '-subj', f'/CN=lpr test {ca}', cwd=d)
    _openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
             '-subj', '/CN=127.0.0.1', cwd=d)
    (d / 'ext').write_text('subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n'
                           'keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n')
    _openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
             '-out', 'server.pem', '-days', '2', '-extfile', 'ext', cwd=d)
    return d


@pytest.fixture(scope='module')
def tls_server(certificates, tmp_path_factory):
    data = tmp_path_factory.mktemp('tls-server')
    token = add_credential(data, 'edge1')
    server = LprServerProcess(data, scheme='https', args=('--certfile', str(certificates / 'server.pem'),
                                                          '--keyfile', str(certificates / 'server.key')))
    with server:
        yield server, token


def test_tls_upload_verified_against_the_ca_file(edge, tls_server, certificates):
    journal, images = edge
    add_events(journal, ['AB12CDE'], images)
    server, token = tls_server
    for url in (server.url, server.url.replace('https://', 'wss://')):
        transport = SocketIoTransport(url, token=token, timeout_s=5, ca_file=str(certificates / 'ca.pem'))
        transport.connect()
        assert transport.connected
        transport.close()
    transport = SocketIoTransport(server.url, token=token, timeout_s=5, ca_file=str(certificates / 'ca.pem'))
    assert Uploader(journal, transport, images).run_once() == 1
    transport.close()
    assert journal.count(SENT) == 1


@pytest.mark.parametrize('ca', ['other_ca.pem', ''])
def test_a_certificate_that_does_not_verify_is_refused_clearly(edge, tls_server, certificates, ca):
    journal, images = edge
    add_events(journal, ['AB12CDE'], images)
    server, token = tls_server
    transport = SocketIoTransport(server.url, token=token, timeout_s=5, ca_file=str(certificates / ca) if ca else '')
    with pytest.raises(TransportError, match="TLS certificate does not verify .*set ca_file"):
        Uploader(journal, transport, images).run_once()
    transport.close()
    assert journal.count(PENDING) == 1


def test_a_plain_http_url_to_a_tls_only_server_is_refused_clearly(edge, tls_server):
    journal, images = edge
    add_events(journal, ['AB12CDE'], images)
    server, token = tls_server
    plain = server.url.replace('https://', 'http://')
    transport = SocketIoTransport(plain, token=token, timeout_s=5, allow_insecure=True)
    with pytest.raises(TransportError, match='does not answer plain HTTP .*use https://'):
        Uploader(journal, transport, images).run_once()
    transport.close()
    assert journal.count(PENDING) == 1


# --- the bridge node ---------------------------------------------------------

@pytest.fixture
def ros():
    import os
    import threading
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=100 + os.getpid() % 30)   # apart from test_nodes' 60..89
    executor = SingleThreadedExecutor(context=context)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [executor.spin_once(0.05) for _ in iter(stop.is_set, True)])
    thread.start()
    yield context, executor
    stop.set()
    thread.join(5)
    executor.shutdown()
    rclpy.try_shutdown(context=context)


def bridge_node(ros, **params):
    from rclpy.parameter import Parameter
    from lpr_bridge.node import BridgeNode
    context, executor = ros
    node = BridgeNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                      namespace='/t', context=context)
    executor.add_node(node)
    return node


def test_bridge_node_refuses_a_token_over_plain_http(ros, tmp_path, monkeypatch):
    from lpr_common.node import FAILURE
    monkeypatch.setenv('LPR_DEVICE_TOKEN', 'lpr_secret')
    node = bridge_node(ros, server_url='http://127.0.0.1:9', db_url=sqlite_url(tmp_path / 'j.sqlite'))
    assert node.trigger_configure() == FAILURE
    assert 'refusing to send the device token over plain http' in node.status.message
    node.destroy_node()


def test_bridge_node_uploads_with_a_token_file_and_reports_its_queue(ros, edge, server_dir, tmp_path):
    from lpr_common.node import SUCCESS
    journal, images = edge
    add_events(journal, ['AB12CDE', 'XY34ZZZ'], images)
    token_file = tmp_path / 'token'
    token_file.write_text(add_credential(server_dir, 'edge1') + '\n')
    token_file.chmod(0o600)
    with LprServerProcess(server_dir) as server:
        node = bridge_node(ros, server_url=server.url, token_file=str(token_file), allow_insecure=True,
                           db_url=journal.url, image_dir=str(images), poll_s=0.2, heartbeat_s=0.5)
        try:
            assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
            assert wait_for(lambda: journal.count(SENT) == 2, 20)
            node.publish_status()
            values = node.status.values
            assert values['queued'] == 0 and values['sent'] == 2 and values['connected'] is True
            assert values['dead_lettered'] == 0 and values['oldest_pending_age_s'] == 0.0 and values['last_error'] == ''
            node.trigger_deactivate()
        finally:
            node.trigger_cleanup()
            node.destroy_node()
    assert server_count(server_dir) == 2
