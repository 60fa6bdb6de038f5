"""lpr-server's core without a network: schema, tokens, exactly-once ingest,
input validation, the legacy message, the REST API."""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest

from lpr_server import validate
from lpr_server.api import Api
from lpr_server.models import API, Base
from lpr_server.protocol import Protocol
from lpr_server.store import Store, StoreError

UTC = dt.timezone.utc
JPEG = b'\xff\xd8\xff\xe0' + bytes(100)
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def event(i: int = 0, **changes) -> dict:
    seen = (T0 + dt.timedelta(minutes=i)).isoformat(timespec='milliseconds')
    data = {'event_id': str(uuid.UUID(int=i + 1)), 'device_id': 'edge1', 'camera_id': 'cam0', 'site_id': 'gate',
            'plate': f'AB{i:03d}CD', 'region': 'UK', 'format': 'UK', 'confidence': 0.93,
            'candidates': [{'text': f'AB{i:03d}CD', 'share': 1.0}], 'read_count': 12, 'direction': 'in',
            'first_seen': seen, 'last_seen': seen, 'best_seen': seen, 'box': [10, 20, 100, 30],
            'latitude': 48.1, 'longitude': 17.1, 'images': {'frame': JPEG, 'plate': JPEG[:50]}}
    data.update(changes)
    return data


@pytest.fixture
def store(tmp_path):
    s = Store(f'sqlite:///{tmp_path / "server.sqlite"}', tmp_path / 'images')
    yield s
    s.close()


@pytest.fixture
def device(store):
    store.add_device('edge1')
    return store.devices()[0]


def test_migrations_build_exactly_the_models_schema(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_tokens_are_stored_hashed_and_can_be_revoked(store, tmp_path):
    token = store.add_device('edge1')
    key = store.add_device('reader', API)
    assert token.startswith('lpr_') and len(token) > 40
    raw = (tmp_path / 'server.sqlite').read_bytes()
    assert token.encode() not in raw and token[4:].encode() not in raw       # only the hash is kept
    assert store.authenticate(token).name == 'edge1'
    assert store.authenticate(key) is None                                   # an API key cannot upload
    assert store.authenticate(key, API).name == 'reader'
    assert store.authenticate('lpr_wrong') is None and store.authenticate('') is None
    assert store.authenticate(None) is None
    with pytest.raises(StoreError, match='already exists'):
        store.add_device('edge1')
    with pytest.raises(StoreError, match='invalid name'):
        store.add_device('../etc')
    assert store.revoke('edge1') and not store.revoke('edge1')
    assert store.authenticate(token) is None


def test_ingest_stores_each_event_once_in_order_with_its_images(store, device):
    protocol = Protocol(store)
    first = protocol.batch(device, [event(i) for i in range(5)])
    assert [r['status'] for r in first['results']] == ['stored'] * 5
    again = protocol.batch(device, [event(i) for i in range(3, 8)])       # overlap: a resent batch
    assert [r['status'] for r in again['results']] == ['duplicate'] * 2 + ['stored'] * 3
    same_twice = protocol.batch(device, [event(9), event(9)])
    assert [r['status'] for r in same_twice['results']] == ['stored', 'duplicate']
    assert store.event_ids() == [str(uuid.UUID(int=i + 1)) for i in (*range(8), 9)]
    e, name, images = store.event(str(uuid.UUID(int=1)))
    assert name == 'edge1' and e.plate == 'AB000CD' and e.best_seen == T0 and e.latitude == 48.1
    assert {i.kind: store.image_file(i).read_bytes() for i in images} == {'frame': JPEG, 'plate': JPEG[:50]}
    assert images[0].path.startswith('edge1/2026/12/01/')


BAD = [
    ('not an object', 'must be an object'),
    (event(0, colour='red'), 'unknown field(s) colour'),
    (event(0, plate=42), 'plate must be a string'),
    (event(0, plate=b'\xff\xfeAB'), 'plate must be a string'),                 # bytes where text belongs
    (event(0, plate='AB\udcff12'), 'plate is not valid UTF-8'),               # a lone surrogate (bad UTF-8)
    (event(0, plate="AB1'; DROP TABLE events;--"), 'only letters, digits'),
    (event(0, plate='<script>alert(1)</script>'), 'only letters, digits'),
    (event(0, plate=''), 'plate is empty'),
    (event(0, plate='A' * 33), 'longer than 32'),
    (event(0, camera_id='cam\x00'), 'control characters'),
    (event(0, event_id='not-a-uuid'), 'event_id is not a UUID'),
    (event(0, confidence='high'), 'confidence must be a number'),
    (event(0, confidence=float('nan')), 'confidence must be a number'),
    (event(0, confidence=7), 'within [0.0, 1.0]'),
    (event(0, read_count=True), 'read_count must be an integer'),
    (event(0, first_seen='2026-12-01T08:00:00'), 'no time zone'),
    (event(0, first_seen='yesterday'), 'not an ISO 8601 time'),
    (event(0, latitude=123.0), 'latitude must be within'),
    (event(0, images={'frame': 'aGVsbG8='}), 'must be a binary attachment'),   # base64 text is refused
    (event(0, images={'frame': b'GIF89a'}), 'not a JPEG'),
    (event(0, images={'thumbnail': JPEG}), 'unknown image kind'),
    (event(0, images={'frame': b'\xff\xd8' + bytes(2_000)}), 'over the 1000-byte limit'),
    (event(0, box=['a', 'b', 'c', 'd']), 'box must be numbers'),
    (event(0, candidates=[{'x': 'y' * 5000}]), 'larger than 4096'),
]


def test_invalid_events_are_rejected_with_a_reason_and_nothing_of_them_is_stored(store, device, tmp_path):
    protocol = Protocol(store, validate.Limits(max_image_bytes=1_000))
    bad = [data for data, _ in BAD]
    for i, data in enumerate(bad):
        if isinstance(data, dict) and data.get('event_id') == str(uuid.UUID(int=1)):
            data['event_id'] = str(uuid.UUID(int=1000 + i))       # each bad one its own id
    reply = protocol.batch(device, [event(0)] + bad + [event(1)])
    results = reply['results']
    assert reply['status'] == 'success' and len(results) == len(BAD) + 2
    assert results[0]['status'] == results[-1]['status'] == 'stored'
    for (_, reason), result in zip(BAD, results[1:-1]):
        assert result['status'] == 'rejected' and reason in result['error'], (reason, result)
    assert store.event_ids() == [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))]
    files = sorted(p.name for p in (tmp_path / 'images').rglob('*') if p.is_file())
    assert len(files) == 4                                      # the two good events' frame + plate only


def test_a_batch_that_is_not_a_list_or_too_long_is_refused_whole(store, device):
    protocol = Protocol(store, max_batch=3)
    assert protocol.batch(device, {'event_id': 'x'})['error'] == 'a batch must be a list of events'
    assert 'over the limit of 3' in protocol.batch(device, [event(i) for i in range(4)])['error']
    assert store.count() == 0


def test_markup_in_free_text_is_kept_as_inert_text(store, device):
    api_key = store.add_device('reader', API)
    hostile = '<img src=x onerror=alert(1)>'
    assert Protocol(store).batch(device, [event(0, site_id=hostile)])['results'][0]['status'] == 'stored'
    response = Api(store).handle('GET', f'/api/events/{uuid.UUID(int=1)}', {}, api_key)
    assert response.status == 200 and response.content_type == 'application/json'
    assert json.loads(response.body)['site_id'] == hostile


def test_a_revoked_device_can_store_nothing(store, device):
    store.revoke('edge1')
    reply = Protocol(store).batch(device, [event(0)])
    assert reply == {'status': 'error', 'error': 'device token revoked'}
    assert Protocol(store).event(device, event(0))['status'] == 'error' and store.count() == 0


def legacy_message(**changes) -> dict:
    data = {'license_plate': 'KA01AB1234', 'checkpoint_id': 7, 'timestamp': '2026-12-01T08:00:00+00:00',
            'hostname': 'edge-old', 'vehicle_type': 'car', 'vehicle_color': 'white', 'latitude': 12.9,
            'longitude': 77.6, 'image': base64.b64encode(JPEG).decode()}
    data.update(changes)
    return {'table': 'lpr_detection', 'data': data}


def test_the_seed_legacy_message_is_stored_once(store, device):
    protocol = Protocol(store)
    assert protocol.event(device, legacy_message()) == {'status': 'success'}
    assert protocol.event(device, legacy_message()) == {'status': 'success'}    # a repeat: stored once
    assert protocol.event(device, legacy_message(timestamp=1_764_576_060)) == {'status': 'success'}  # epoch s
    assert store.count() == 2
    e, _, images = store.event(store.event_ids()[0])
    assert (e.plate, e.camera_id, e.site_id, e.vehicle_type, e.source) == ('KA01AB1234', '7', 'edge-old', 'car', 'legacy')
    assert store.image_file(images[0]).read_bytes() == JPEG
    reply = protocol.event(device, legacy_message(license_plate='<b>X</b>'))
    assert reply['status'] == 'error' and 'license_plate must contain only' in reply['error']
    reply = protocol.event(device, legacy_message(speed=88))
    assert reply == {'status': 'error', 'error': 'unknown field(s) speed'}
    assert store.count() == 2


def test_heartbeat_is_kept_and_bounded(store, device):
    protocol = Protocol(store)
    assert protocol.heartbeat(device, {'queued': 3, 'connected': True}) == {'status': 'success'}
    assert store.devices()[0].status == {'queued': 3, 'connected': True}
    assert protocol.heartbeat(device, {'x': 'y' * 5000})['status'] == 'error'
    assert protocol.heartbeat(device, [1, 2])['status'] == 'error'


def test_rest_api_search_one_event_images_devices(store, device):
    key = store.add_device('reader', API)
    other = store.add_device('edge2')
    Protocol(store).batch(device, [event(i) for i in range(5)])
    Protocol(store).batch(store.authenticate(other), [event(10, plate='ZZ999ZZ')])
    Protocol(store).heartbeat(device, {'queued': 0})
    api = Api(store)

    def get(path, **query):
        response = api.handle('GET', path, {k: str(v) for k, v in query.items()}, key)
        return response.status, (json.loads(response.body) if response.content_type == 'application/json'
                                 else response.body)

    status, body = get('/api/events', plate='b00')                  # partial, case-insensitive
    assert status == 200 and [e['plate'] for e in body['events']] == [f'AB00{i}CD' for i in (4, 3, 2, 1, 0)]
    assert [e['plate'] for e in get('/api/events', device='edge2')[1]['events']] == ['ZZ999ZZ']
    since, until = (T0 + dt.timedelta(minutes=1)).isoformat(), (T0 + dt.timedelta(minutes=3)).isoformat()
    assert [e['plate'] for e in get('/api/events', since=since, until=until)[1]['events']] == ['AB002CD', 'AB001CD']
    page = get('/api/events', plate='AB', limit=2)[1]
    assert len(page['events']) == 2 and page['next_before_id']
    rest = get('/api/events', plate='AB', before_id=page['next_before_id'])[1]['events']
    assert [e['plate'] for e in rest] == ['AB002CD', 'AB001CD', 'AB000CD']

    status, one = get(f'/api/events/{uuid.UUID(int=1)}')
    assert status == 200 and one['plate'] == 'AB000CD' and one['device'] == 'edge1' and one['box'] == [10, 20, 100, 30]
    assert {i['kind'] for i in one['images']} == {'frame', 'plate'}
    frame = next(i for i in one['images'] if i['kind'] == 'frame')
    assert get(frame['url']) == (200, JPEG)
    assert get(f'/api/events/{uuid.UUID(int=99)}')[0] == 404
    assert get(f'/api/events/{uuid.UUID(int=1)}/images/vehicle')[0] == 404

    devices = {d['name']: d for d in get('/api/devices')[1]['devices']}
    assert set(devices) == {'edge1', 'edge2'}                        # API keys are not devices
    assert devices['edge1']['health'] == 'online' and devices['edge1']['status'] == {'queued': 0}
    store.revoke('edge2')
    assert {d['name']: d['health'] for d in get('/api/devices')[1]['devices']}['edge2'] == 'revoked'

    assert get('/api/events', since='last week')[0] == 400
    assert get('/api/events', limit=0)[0] == 400
    assert get('/api/events', colour='red')[0] == 400
    assert api.handle('GET', '/api/events', {}, '').status == 401
    assert api.handle('GET', '/api/events', {}, other).status == 401       # a device token cannot read
    assert api.handle('POST', '/api/events', {}, key).status == 405
    assert api.handle('GET', '/api/health', {}, '').status == 200


from test_postgres import postgres_url  # noqa: E402,F401 - the fixture: a PostgreSQL server on 127.0.0.1


def test_store_on_postgresql(postgres_url, tmp_path):  # noqa: F811
    store = Store(postgres_url, tmp_path / 'images')
    again = Store(postgres_url, tmp_path / 'images')              # a second process: schema already current
    try:
        token = store.add_device('edge1')
        device = again.authenticate(token)
        protocol = Protocol(store)
        assert [r['status'] for r in protocol.batch(device, [event(i) for i in range(3)])['results']] == ['stored'] * 3
        assert [r['status'] for r in Protocol(again).batch(device, [event(2), event(3)])['results']] == \
            ['duplicate', 'stored']
        assert again.event_ids() == [str(uuid.UUID(int=i + 1)) for i in range(4)]
        e, _, images = again.event(str(uuid.UUID(int=1)))
        assert e.best_seen == T0 and len(images) == 2
        key = store.add_device('reader', API)
        found = json.loads(Api(again).handle('GET', '/api/events', {'plate': '00%'}, key).body)['events']
        assert found == []                                          # % is matched literally, not as a wildcard
        found = json.loads(Api(again).handle('GET', '/api/events', {'plate': 'b001'}, key).body)['events']
        assert [f['plate'] for f in found] == ['AB001CD']
    finally:
        store.close()
        again.close()
