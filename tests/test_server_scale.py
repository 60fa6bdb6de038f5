"""Scale-out: two lpr-server processes sharing one PostgreSQL and one Redis, all
on 127.0.0.1. Each event is stored once whichever process gets it (the same
UUID raced to both included), and an emit reaches an edge connected to the
other process. Skips without redis-server or the PostgreSQL server binaries."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest
import socketio

from lpr_server.app import EDGES_ROOM, device_room, external_pusher
from lpr_server.models import API
from lpr_server.store import Store

from sio_server import LprServerProcess, free_port
from test_postgres import postgres_url  # noqa: F401 - the fixture: a PostgreSQL server on 127.0.0.1

JPEG = b'\xff\xd8\xff\xe0' + bytes(1_000)
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('redis-server exited')
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('redis-server did not start')


@pytest.fixture(scope='module')
def redis_url(tmp_path_factory):
    binary = shutil.which('redis-server')
    if not binary:
        pytest.skip('redis-server not installed (apt install redis-server)')
    pytest.importorskip('redis', reason='the redis package is not installed (requirements/runtime.txt)')
    port, workdir = free_port(), tmp_path_factory.mktemp('redis')
    proc = subprocess.Popen([binary, '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                             '--appendonly', 'no', '--dir', str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield f'redis://127.0.0.1:{port}/0'
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope='module')
def deployment(redis_url, postgres_url, tmp_path_factory):  # noqa: F811 - redis first: the cheaper skip
    """Two server processes, one database, one Redis, one image directory."""
    base = tmp_path_factory.mktemp('scale')
    images = base / 'images'
    store = Store(postgres_url, images)     # migrates once, before the servers start
    tokens = {name: store.add_device(name) for name in ('edge-a', 'edge-b')}
    tokens['api'] = store.add_device('reader', API)
    args = ('--db-url', postgres_url, '--redis-url', redis_url, '--image-dir', str(images))
    servers = [LprServerProcess(base / f'server{i}', args=args) for i in (1, 2)]
    try:
        for server in servers:
            server.start()
        yield store, servers, tokens, redis_url
    finally:
        for server in servers:
            server.stop()
        store.close()


def event(i: int) -> dict:
    seen = (T0 + dt.timedelta(seconds=i)).isoformat(timespec='milliseconds')
    return {'event_id': str(uuid.UUID(int=i + 1)), 'camera_id': 'cam0', 'plate': f'SC{i:04d}',
            'confidence': 0.9, 'first_seen': seen, 'last_seen': seen, 'best_seen': seen,
            'images': {'frame': JPEG}}


def connect(server: LprServerProcess, token: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, auth={'token': token}, wait_timeout=10, retry=False)
    return client


def send_together(clients: list[socketio.Client], batch: list[dict]) -> list[dict]:
    """The same batch to every client at once (a barrier, then one call each)."""
    answers: list = [None] * len(clients)
    barrier = threading.Barrier(len(clients))

    def send(k: int) -> None:
        barrier.wait()
        answers[k] = clients[k].call('lpr_batch', batch, timeout=30)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_the_same_event_raced_to_both_processes_is_stored_exactly_once(deployment):
    store, servers, tokens, _ = deployment
    # One device resending after a reconnection through the load balancer: the same
    # UUIDs reach both processes at the same moment.
    clients = [connect(server, tokens['edge-a']) for server in servers]
    stored_by: dict[str, list[int]] = {}
    try:
        for round_ in range(20):
            batch = [event(round_ * 10 + k) for k in range(10)]
            for k, answer in enumerate(send_together(clients, batch)):
                assert answer['status'] == 'success', answer
                for result in answer['results']:
                    assert result['status'] in ('stored', 'duplicate'), result
                    if result['status'] == 'stored':
                        stored_by.setdefault(result['event_id'], []).append(k)
    finally:
        for client in clients:
            client.disconnect()
    expected = [event(i)['event_id'] for i in range(200)]
    assert sorted(stored_by) == sorted(expected)
    assert all(len(who) == 1 for who in stored_by.values())       # one process stored it, the other said duplicate
    ids = [i for i in store.event_ids() if i in set(expected)]
    assert sorted(ids) == sorted(expected)                          # in the database once each
    for event_id in expected[:5]:
        _, _, images = store.event(event_id)
        assert [i.kind for i in images] == ['frame'] and store.image_file(images[0]).read_bytes() == JPEG


def test_events_uploaded_to_either_process_are_served_by_the_other(deployment):
    store, servers, tokens, _ = deployment
    clients = [connect(servers[0], tokens['edge-a']), connect(servers[1], tokens['edge-b'])]
    try:
        for k, client in enumerate(clients):
            batch = [event(1000 + k * 100 + j) for j in range(20)]
            answer = client.call('lpr_batch', batch, timeout=30)
            assert [r['status'] for r in answer['results']] == ['stored'] * 20
    finally:
        for client in clients:
            client.disconnect()
    uploaded_to_first = event(1000)['event_id']
    request = urllib.request.Request(f'{servers[1].url}/api/events/{uploaded_to_first}',
                                     headers={'Authorization': f'Bearer {tokens["api"]}'})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body['device'] == 'edge-a' and body['images'][0]['kind'] == 'frame'
    with urllib.request.urlopen(urllib.request.Request(servers[1].url + body['images'][0]['url'],
                                                       headers=request.headers), timeout=10) as response:
        assert response.read() == JPEG                             # one image directory for both


def test_an_emit_reaches_an_edge_connected_to_the_other_process(deployment):
    _, servers, tokens, redis_url = deployment
    received: dict[str, list] = {'edge-a': [], 'edge-b': []}
    clients = {}
    for name, server in (('edge-a', servers[0]), ('edge-b', servers[1])):
        client = socketio.Client(reconnection=False)
        client.on('lpr_push', lambda data, name=name: received[name].append(data))
        client.connect(server.url, auth={'token': tokens[name]}, wait_timeout=10, retry=False)
        clients[name] = client
    pusher = external_pusher(redis_url)
    try:
        pusher.emit('lpr_push', {'to': 'edge-b'}, room=device_room('edge-b'))
        pusher.emit('lpr_push', {'to': 'all'}, room=EDGES_ROOM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (len(received['edge-a']) < 1 or len(received['edge-b']) < 2):
            time.sleep(0.05)
        time.sleep(0.3)                                            # nothing more on the way
    finally:
        for client in clients.values():
            client.disconnect()
    assert received['edge-b'] == [{'to': 'edge-b'}, {'to': 'all'}]
    assert received['edge-a'] == [{'to': 'all'}]                   # the room of edge-b only reached edge-b
