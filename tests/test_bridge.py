import datetime as dt
import time

import numpy as np
import pytest

from lpr_bridge.config import BridgeConfig
from lpr_bridge.sender import SenderLoop
from lpr_bridge.security import TOKEN_ENV, SecurityError, check_url, load_token
from lpr_bridge.socketio_transport import SocketIoTransport, parse_ack, parse_batch_ack
from lpr_bridge.uploader import TransportError, Uploader
from lpr_common.config import ConfigError, build_config
from lpr_recorder.journal import DEAD_LETTER, PENDING, SENT, Event, Journal, sqlite_url

from sio_server import EventServer, free_port

UTC = dt.timezone.utc


def add_events(journal, plates, image_root=None):
    now = dt.datetime.now(UTC)
    for i, plate in enumerate(plates):
        rel = ''
        if image_root is not None:
            rel = f'cam0/{i}_frame.jpg'
            (image_root / rel).parent.mkdir(parents=True, exist_ok=True)
            (image_root / rel).write_bytes(b'\xff\xd8jpeg' + bytes([i]))
        journal.add(Event(event_id=f'00000000-0000-0000-0000-{i:012d}', camera_id='cam0', plate=plate,
                          confidence=0.9, first_seen=now, last_seen=now, best_seen=now,
                          created_at=now, frame_path=rel))


@pytest.fixture
def journal(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'journal.sqlite'))
    yield j
    j.close()


def test_uploads_fifo_with_images_and_a_rejection_does_not_block(journal, tmp_path):
    images = tmp_path / 'images'
    add_events(journal, ['AAA111', 'BAD000', 'CCC333'], images)
    with EventServer(token='secret', reject=('BAD000',)) as server:
        transport = SocketIoTransport(server.url, token='secret', device_id='dev1', timeout_s=5,
                                      allow_insecure=True)
        uploader = Uploader(journal, transport, images, 'dev1')
        assert uploader.run_once() == 3
        transport.close()
    assert [e['plate'] for e in server.received] == ['AAA111', 'CCC333']
    first = server.received[0]
    assert first['device_id'] == 'dev1' and first['images']['frame'] == b'\xff\xd8jpeg\x00'   # binary, not base64
    assert first['first_seen'].endswith('+00:00')
    assert journal.count(SENT) == 2 and journal.count(DEAD_LETTER) == 1 and journal.count(PENDING) == 0
    bad = next(e for e in journal.latest(10) if e.plate == 'BAD000')
    assert bad.upload_error == 'rejected by the server: plate refused by test server'
    assert uploader.rejected == 1 and uploader.status()['dead_lettered'] == 1


def test_no_server_keeps_events_queued(journal):
    add_events(journal, ['AAA111'])
    transport = SocketIoTransport(f'http://127.0.0.1:{free_port()}', timeout_s=1)
    with pytest.raises(TransportError, match='cannot connect'):
        Uploader(journal, transport, None).run_once()
    assert journal.count(PENDING) == 1


def test_wrong_token_is_refused(journal):
    add_events(journal, ['AAA111'])
    with EventServer(token='right') as server:
        transport = SocketIoTransport(server.url, token='wrong', timeout_s=2, allow_insecure=True)
        with pytest.raises(TransportError):
            Uploader(journal, transport, None).run_once()
    assert journal.count(PENDING) == 1


def test_sender_loop_retries_until_the_server_appears(journal):
    add_events(journal, ['AAA111', 'BBB222'])
    port = free_port()
    transport = SocketIoTransport(f'http://127.0.0.1:{port}', timeout_s=2)
    states = []
    loop = SenderLoop(Uploader(journal, transport, None), poll_s=0.2, retry_initial_s=0.2,
                      retry_max_s=0.5, on_state=lambda s, d: states.append(s))
    loop.start()
    server = EventServer()
    server.port, server.url = port, f'http://127.0.0.1:{port}'
    try:
        time.sleep(0.8)
        assert 'retrying' in states and journal.count(PENDING) == 2
        with server:
            deadline = time.monotonic() + 10
            while journal.count(SENT) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            loop.stop()
            transport.close()
    finally:
        loop.stop()
        transport.close()
    assert journal.count(SENT) == 2
    assert [e['plate'] for e in server.received] == ['AAA111', 'BBB222']


def test_ack_parsing():
    assert parse_ack({'status': 'success'}).accepted
    assert not parse_ack({'status': 'error', 'error': 'no'}).accepted
    with pytest.raises(TransportError):
        parse_ack({'status': 'error', 'retry': True})
    with pytest.raises(TransportError):
        parse_ack('ok')
    acks = parse_batch_ack({'status': 'success', 'results': [{'status': 'stored'}, {'status': 'duplicate'},
                                                             {'status': 'rejected', 'error': 'bad plate'}]}, 3)
    assert [a.accepted for a in acks] == [True, True, False] and acks[2].error == 'bad plate'
    for reply in ({'status': 'success', 'results': [{'status': 'stored'}]},   # one result for two events
                  {'status': 'error', 'error': 'device token revoked'}, None, ['x', 'y']):
        with pytest.raises(TransportError):
            parse_batch_ack(reply, 2)


def test_config_validation():
    with pytest.raises(ConfigError, match='server_url'):
        build_config(BridgeConfig, {'server_url': 'ftp://x'})
    assert build_config(BridgeConfig, {}).server_url == ''
    with pytest.raises(ConfigError, match='unknown parameter'):
        build_config(BridgeConfig, {'token': 'secret'})     # a token is never a ROS parameter


def test_token_comes_from_a_file_or_the_environment(tmp_path):
    f = tmp_path / 'token'
    f.write_text('lpr_abc\n')
    assert load_token(str(f), {TOKEN_ENV: 'other'}) == 'lpr_abc'
    assert load_token('', {TOKEN_ENV: ' lpr_env '}) == 'lpr_env'
    assert load_token('', {}) == ''
    with pytest.raises(SecurityError, match='cannot read token_file'):
        load_token(str(tmp_path / 'missing'))
    (tmp_path / 'empty').write_text('\n')
    with pytest.raises(SecurityError, match='empty'):
        load_token(str(tmp_path / 'empty'))


def test_a_token_is_never_sent_in_clear_unless_allowed():
    with pytest.raises(SecurityError, match='refusing to send the device token over plain http'):
        check_url('http://central:8443', 'lpr_abc')
    with pytest.raises(SecurityError, match='plain ws'):
        SocketIoTransport('ws://central:8443', token='lpr_abc')
    check_url('http://central:8443', 'lpr_abc', allow_insecure=True)     # a trusted LAN, said explicitly
    check_url('https://central:8443', 'lpr_abc')
    with pytest.raises(SecurityError, match='ca_file'):
        check_url('wss://central:8443', 'lpr_abc', ca_file='/nonexistent/ca.pem')


def test_backoff_has_jitter_within_half_to_full_delay():
    import random
    from lpr_bridge.sender import backoff
    rng = random.Random(1)
    waits = [backoff(8.0, rng) for _ in range(200)]
    assert all(4.0 <= w <= 8.0 for w in waits) and len({round(w, 3) for w in waits}) > 150


def real_jpeg(size=(720, 1280), seed=0) -> bytes:
    import cv2
    import numpy as np
    noise = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)   # incompressible
    return cv2.imencode('.jpg', noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def test_an_event_never_acknowledged_is_dead_lettered_and_the_queue_moves_on(journal):
    from lpr_recorder.journal import DEAD_LETTER
    add_events(journal, ['AAA111', 'SLOW00', 'CCC333'])
    with EventServer(ignore=('SLOW00',)) as server:
        transport = SocketIoTransport(server.url, timeout_s=1)
        uploader = Uploader(journal, transport, None, 'dev1', max_attempts=2)
        with pytest.raises(TransportError, match='no acknowledgement'):
            uploader.run_once()                  # first attempt: back off, row stays pending
        row = next(e for e in journal.latest(10) if e.plate == 'SLOW00')
        assert row.upload_state == PENDING and row.upload_attempts == 1
        assert uploader.run_once() == 2          # second attempt: dead-lettered, the next one goes
        transport.close()
    assert [e['plate'] for e in server.received] == ['AAA111', 'CCC333']
    row = next(e for e in journal.latest(10) if e.plate == 'SLOW00')
    assert row.upload_state == DEAD_LETTER and 'gave up after 2 attempts' in row.upload_error
    assert uploader.dead_lettered == 1 and journal.count(PENDING) == 0


def test_an_event_too_large_for_the_server_is_sent_with_smaller_images(journal, tmp_path):
    images = tmp_path / 'images'
    add_events(journal, ['BIG000'], images)
    big = real_jpeg()
    (images / 'cam0/0_frame.jpg').write_bytes(big)
    assert len(big) > 1_000_000
    with EventServer(max_bytes=1_000_000) as server:
        transport = SocketIoTransport(server.url, timeout_s=5)
        uploader = Uploader(journal, transport, images, 'dev1', max_payload_bytes=900_000)
        assert uploader.run_once() == 1
        transport.close()
    (got,) = server.received
    assert got['images_reduced'] and 0 < len(got['images']['frame']) < 900_000 and uploader.shrunk == 1
    assert journal.count(SENT) == 1


def test_fit_payload_drops_images_it_cannot_shrink_enough():
    from lpr_bridge.uploader import fit_payload, payload_size
    payload = {'event_id': 'x', 'images': {'frame': real_jpeg()}}
    fitted = fit_payload(payload, 5_000)
    assert fitted['images'] == {} and fitted['images_dropped'] and payload_size(fitted) <= 5_000
    assert fit_payload(payload, 0) is payload


def test_image_size_and_quality_parameters():
    import cv2
    from lpr_bridge.uploader import prepare_image
    original = real_jpeg((400, 800))
    assert prepare_image(original) is original                  # 0, 0: sent as stored
    small = prepare_image(original, max_side=200)
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (100, 200)
    low = prepare_image(original, quality=30)
    assert len(low) < len(original) / 2
    assert cv2.imdecode(np.frombuffer(low, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (400, 800)


def test_batches_respect_the_payload_limit_and_the_heartbeat_reports_the_queue(journal, tmp_path):
    images = tmp_path / 'images'
    add_events(journal, [f'P{i:05d}' for i in range(7)], images)
    for i in range(7):
        (images / f'cam0/{i}_frame.jpg').write_bytes(b'\xff\xd8' + bytes(30_000))
    with EventServer() as server:
        transport = SocketIoTransport(server.url, timeout_s=5)
        sizes = []
        send = transport.send_batch
        transport.send_batch = lambda payloads: sizes.append(len(payloads)) or send(payloads)
        uploader = Uploader(journal, transport, images, 'dev1', batch=5, max_payload_bytes=100_000)
        assert uploader.run_once() == 7
        uploader.send_heartbeat()
        transport.close()
    assert sizes == [3, 2, 2]          # 3 x ~30 kB per message, 5 rows per journal read
    assert [e['plate'] for e in server.received] == [f'P{i:05d}' for i in range(7)]
    (beat,) = server.heartbeats
    assert beat['queued'] == 0 and beat['sent'] == 7 and beat['connected'] is True
    assert set(beat) >= {'dead_lettered', 'oldest_pending_age_s', 'last_error'}


def test_a_server_closing_the_connection_on_a_huge_payload_counts_as_an_attempt(journal, tmp_path):
    from lpr_recorder.journal import DEAD_LETTER
    images = tmp_path / 'images'
    add_events(journal, ['BIG000', 'CCC333'], images)
    (images / 'cam0/0_frame.jpg').write_bytes(real_jpeg())
    with EventServer(max_bytes=1_000_000) as server:
        transport = SocketIoTransport(server.url, timeout_s=2)
        uploader = Uploader(journal, transport, images, 'dev1', max_attempts=1, max_payload_bytes=0)
        assert uploader.run_once() == 2          # no size check: the server drops it, then the next goes
        transport.close()
    assert [e['plate'] for e in server.received] == ['CCC333']
    row = next(e for e in journal.latest(10) if e.plate == 'BIG000')
    assert row.upload_state == DEAD_LETTER and row.upload_attempts == 1 and 'closed the connection' in row.upload_error


def _health_rows(n, message='active', level=0):
    from lpr_recorder.health_rows import HealthRow
    now = dt.datetime.now(UTC)
    figures = {'lifecycle': 'active', 'cpu_percent': 23.456, 'rss_mb': 150.75, 'fps': 14.97, 'queued': 3,
               'connected': True, 'last_frame_age_s': 0.05, 'read_latency_ms_p90': 180.5, 'dropped': 12}
    return [HealthRow(f'/camera_{i:02d}/node_with_a_long_name_{i:02d}', f'camera_{i:02d}', level, message,
                      figures, now) for i in range(n)]


def test_the_heartbeat_carries_the_graph_s_health_well_under_the_server_limit():
    from lpr_bridge.sender import HEARTBEAT_LIMIT, HEARTBEAT_TARGET, heartbeat_payload, heartbeat_size
    from lpr_recorder.health_rows import HealthRow
    status = {'queued': 12, 'sent': 40, 'dead_lettered': 0, 'rejected': 0, 'oldest_pending_age_s': 3.5,
              'connected': True, 'last_error': 'é' * 300}     # escaped by json.dumps: 6 bytes each
    assert heartbeat_payload(status, None) == status
    now = dt.datetime.now(UTC)
    recorder = HealthRow('/cam0/recorder', 'cam0', 2, 'cannot record events: disk full ' + 'x' * 300,
                         {'lifecycle': 'active', 'disk_free_gb': 0.02, 'temperature_c': 78.5, 'queued': 90}, now)
    small = heartbeat_payload(status, _health_rows(3) + [recorder])
    assert small['queued'] == 12 and small['health']['box'] == {'disk_free_gb': 0.02, 'temperature_c': 78.5}
    assert small['health']['worst'] == 2 and list(small['health']['nodes'])[0] == 'cam0/recorder'
    camera = small['health']['nodes']['camera_00/node_with_a_long_name_00']
    assert camera['cpu'] == 23.5 and camera['fps'] == 14.97 and camera['connected'] is True
    for rows in (_health_rows(64) + [recorder], _health_rows(64, 'é' * 200, level=1)):
        beat = heartbeat_payload(status, rows)
        assert heartbeat_size(beat) <= HEARTBEAT_TARGET < HEARTBEAT_LIMIT
        assert beat['health']['nodes'] and beat['health']['omitted'] > 0
    assert 'cam0/recorder' in heartbeat_payload(status, _health_rows(64) + [recorder])['health']['nodes']


def test_the_sender_loop_sends_the_health_with_its_heartbeat(journal):
    with EventServer() as server:
        transport = SocketIoTransport(server.url, timeout_s=5)
        loop = SenderLoop(Uploader(journal, transport, None, 'dev1'), poll_s=0.2, retry_initial_s=0.2,
                          retry_max_s=0.5, heartbeat_s=60, health=lambda: _health_rows(2))
        loop.start()
        deadline = time.monotonic() + 10
        while not server.heartbeats and time.monotonic() < deadline:
            time.sleep(0.1)
        loop.stop()
        transport.close()
    beat = server.heartbeats[0]
    assert beat['queued'] == 0 and 'last_error' in beat
    assert set(beat['health']['nodes']) == {f'camera_{i:02d}/node_with_a_long_name_{i:02d}' for i in range(2)}


def test_health_in_the_heartbeat_can_be_turned_off():
    assert build_config(BridgeConfig, {}).send_health is True
    assert build_config(BridgeConfig, {'send_health': False}).send_health is False
