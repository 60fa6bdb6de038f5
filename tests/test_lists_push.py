"""Access lists kept by lpr-server and pushed to the edges: the server's pure
core and store, the edge's apply logic (lpr_bridge.lists_sync), the web
journal's read-only server entries, and the real server process pushing to
the bridge's real transport."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from lpr_bridge import lists_sync
from lpr_bridge.lists_sync import ListsSync, Outcome, parse_origin
from lpr_bridge.socketio_transport import SocketIoTransport
from lpr_recorder.journal import AccessEntry, Journal, sqlite_url
from lpr_server import lists
from lpr_server.api import Api
from lpr_server.app import lists_reply
from lpr_server.models import API
from lpr_server.store import Store, StoreError

from sio_server import LprServerProcess
from test_server_e2e import wait_for

UTC = dt.timezone.utc
T1 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


# -- the server's pure core ---------------------------------------------------------------
def test_entries_are_checked_like_the_edge_checks_them():
    e = lists.make_entry(' Allow ', 'ab-12 cd', 'cam1, cam2', '2026-12-01T08:00', '2026-12-02', ' staff ')
    assert e == lists.Entry('allow', 'AB12CD', ('cam1', 'cam2'), T1, dt.datetime(2026, 12, 2, tzinfo=UTC), 'staff')
    for bad, reason in ((('vip', 'AB1'), 'list must be'), (('deny', '--'), 'no plate'),
                        (('deny', 'A' * 33), 'longer than'), (('deny', 'AB1', '', 'soon'), 'ISO 8601'),
                        (('deny', 'AB1', '', '2026-12-02', '2026-12-01'), 'not after')):
        with pytest.raises(ValueError, match=reason):
            lists.make_entry(*bad)


def test_csv_import_reports_each_bad_line():
    result = lists.parse_csv('list,plate,cameras\nallow,AB1\ndeny,CD2,gate,,2026-01-01,late\nvip,EF3\nx\n')
    assert [e.plate for e in result.entries] == ['AB1', 'CD2']
    assert result.entries[1].valid_until == dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert [line for line, _ in result.errors] == [4, 5]


def test_a_device_lacks_every_scope_whose_version_differs():
    current = {'': 3, 'edge1': 2, 'edge2': 5}
    assert lists.lacking('edge1', {'all': 3, 'device': 2}, current) == []
    assert lists.lacking('edge1', {'all': 2, 'device': 2}, current) == ['']
    assert lists.lacking('edge1', {}, current) == ['', 'edge1']
    assert lists.lacking('edge3', {'all': 3}, current) == []            # never had a device list: nothing due
    assert lists.lacking('edge1', 'junk', current) == ['', 'edge1']
    assert lists.lacking('edge1', {'all': True, 'device': '2'}, current) == ['', 'edge1']
    assert lists.changed({'': 1}, {'': 2, 'edge1': 1}) == ['', 'edge1']
    assert lists.changed({'': 2}, {'': 2}) == []


def test_payload_and_ack_on_the_wire():
    entry = lists.Entry('visitor', 'AB1', ('gate',), T1, None, 'n')
    assert lists.payload('', 4, [entry]) == {'scope': 'all', 'version': 4, 'entries': [
        {'list': 'visitor', 'plate': 'AB1', 'cameras': ['gate'], 'valid_from': T1.isoformat(),
         'valid_until': None, 'note': 'n'}]}
    assert lists.payload('edge1', 1, [])['scope'] == 'device'
    assert lists.parse_ack({'scope': 'all', 'version': 4, 'status': 'applied'}) == lists.Ack('all', 4)
    assert lists.parse_ack({'scope': 'device', 'version': 0, 'status': 'error', 'error': 'bad'}).error == 'bad'
    assert lists.parse_ack({'scope': 'edge1', 'version': 4}) is None
    assert lists.parse_ack({'scope': 'all', 'version': True}) is None


# -- the server's store -------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    s = Store(f'sqlite:///{tmp_path / "server.sqlite"}', tmp_path / 'images')
    s.add_device('edge1')
    s.add_device('edge2')
    yield s
    s.close()


def test_every_change_raises_its_scope_version_only(store):
    assert store.add_list_entries('', [lists.make_entry('allow', 'AB1')]) == 1
    assert store.add_list_entries('', [lists.make_entry('deny', 'CD2'), lists.make_entry('allow', 'EF3')]) == 2
    assert store.add_list_entries('edge1', [lists.make_entry('deny', 'GH4', 'gate')]) == 1
    assert store.list_versions() == {'': 2, 'edge1': 1}
    version, entries = store.list_snapshot('')
    assert version == 2 and [e.plate for e in entries] == ['AB1', 'CD2', 'EF3']
    assert store.list_snapshot('edge1')[1] == [lists.Entry('deny', 'GH4', ('gate',))]
    ids = {r.plate: r.id for r in store.list_rows()}
    assert store.remove_list_entries([ids['AB1'], ids['GH4']]) == {'': 3, 'edge1': 2}
    with pytest.raises(StoreError, match='no list entry'):
        store.remove_list_entries([ids['CD2'], 9999])                 # all or nothing
    assert len(store.list_rows('')) == 2
    with pytest.raises(StoreError, match='no device'):
        store.add_list_entries('nobody', [lists.make_entry('allow', 'AB1')])
    assert store.list_versions() == {'': 3, 'edge1': 2}


def test_a_connecting_device_gets_what_it_lacks_and_nothing_of_others(store):
    edge1, edge2 = store.devices()
    store.add_list_entries('', [lists.make_entry('allow', 'AB1')])
    store.add_list_entries('edge2', [lists.make_entry('deny', 'CD2')])
    reply = lists_reply(store, edge1, {'versions': {'all': 0, 'device': 0}})
    assert reply['status'] == 'success'
    assert [(p['scope'], p['version'], [e['plate'] for e in p['entries']]) for p in reply['lists']] == \
        [('all', 1, ['AB1'])]
    assert lists_reply(store, edge1, {'versions': {'all': 1}})['lists'] == []
    reply = lists_reply(store, edge2, None)
    assert [(p['scope'], [e['plate'] for e in p['entries']]) for p in reply['lists']] == \
        [('all', ['AB1']), ('device', ['CD2'])]
    store.revoke('edge2')
    assert lists_reply(store, edge2, {})['status'] == 'error'


def test_rest_api_reads_the_lists_and_the_acknowledgements(store):
    key = store.add_device('dash', API)
    store.add_list_entries('', [lists.make_entry('allow', 'AB1', note='<b>')])
    store.add_list_entries('edge1', [lists.make_entry('deny', 'CD2')])
    store.record_list_ack(store.devices()[0].id, lists.Ack('all', 1))
    api = Api(store)
    body = json.loads(api.handle('GET', '/api/lists', {}, key).body)
    assert [(x['scope'], x['device'], x['version'], [e['plate'] for e in x['entries']]) for x in body['lists']] == \
        [('all', None, 1, ['AB1']), ('device', 'edge1', 1, ['CD2'])]
    assert body['lists'][0]['entries'][0]['note'] == '<b>'
    assert [(a['device'], a['scope'], a['version']) for a in body['acks']] == [('edge1', 'all', 1)]
    only2 = json.loads(api.handle('GET', '/api/lists', {'device': 'edge2'}, key).body)
    assert [x['device'] for x in only2['lists']] == [None, 'edge2'] and only2['acks'] == []
    assert api.handle('GET', '/api/lists', {}, '').status == 401
    assert api.handle('POST', '/api/lists', {}, key).status == 405            # API keys only read
    assert api.handle('GET', '/api/lists', {'scope': 'x'}, key).status == 400


# -- the edge: applying a push --------------------------------------------------------------
@pytest.fixture
def journal(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'edge' / 'journal.sqlite'))
    yield j
    j.close()


def rows(journal) -> list[tuple[str, str, str]]:
    with journal._sessions() as s:
        return [(r.list_name, r.plate, r.created_by) for r in
                s.scalars(select(AccessEntry).order_by(AccessEntry.plate))]


def add_local(journal, plate='LOCAL1', by='op'):
    with journal._sessions.begin() as s:
        s.add(AccessEntry(list_name='allow', plate=plate, cameras='', note='', created_by=by, created_at=T1))


def push(scope, version, *entries):
    return {'scope': scope, 'version': version, 'entries': [
        {'list': e[0], 'plate': e[1], 'cameras': list(e[2:3]), 'valid_from': None, 'valid_until': None,
         'note': ''} for e in entries]}


def test_a_push_replaces_its_scope_whole_and_leaves_local_entries(journal):
    add_local(journal)
    sync = ListsSync(journal)
    assert sync.apply(push('all', 1, ('allow', 'AB1'), ('deny', 'CD2', 'gate'))) == Outcome('all', 1, 'applied')
    assert sync.apply(push('device', 1, ('visitor', 'EF3'))).status == 'applied'
    assert sync.apply(push('all', 2, ('deny', 'ab-1'))).status == 'applied'
    assert rows(journal) == [('deny', 'AB1', 'lpr-server/all/v2'), ('visitor', 'EF3', 'lpr-server/device/v1'),
                             ('allow', 'LOCAL1', 'op')]
    assert sync.versions() == {'all': 2, 'device': 1}
    assert ListsSync(journal).versions() == {'all': 2, 'device': 1}     # after a restart: from the rows
    with journal._sessions() as s:
        cameras = s.scalar(select(AccessEntry.cameras).where(AccessEntry.plate == 'AB1'))
    assert cameras == ''


def test_an_older_or_same_version_is_ignored(journal):
    sync = ListsSync(journal)
    sync.apply(push('all', 5, ('allow', 'NEW5')))
    assert sync.apply(push('all', 4, ('allow', 'OLD4'))) == Outcome('all', 5, 'current')
    assert sync.apply(push('all', 5, ('allow', 'OTHER'))).status == 'current'
    assert [p for _, p, _ in rows(journal)] == ['NEW5']
    assert sync.apply(push('all', 6)).status == 'applied'               # emptied: the version stays known
    assert rows(journal) == [] and sync.versions()['all'] == 6
    assert sync.apply(push('all', 5, ('allow', 'NEW5'))).status == 'current'


@pytest.mark.parametrize('payload, reason', [
    ('junk', 'not an object'),
    ({'scope': 'site', 'version': 2, 'entries': []}, 'unknown list scope'),
    ({'scope': 'all', 'version': 0, 'entries': []}, 'positive integer'),
    ({'scope': 'all', 'version': 2, 'entries': {}}, 'entries must be a list'),
    (push('all', 2, ('allow', 'OK1'), ('vip', 'AB1')), 'entry 2: list must be'),
    (push('all', 2, ('allow', 'OK1'), ('allow', '')), 'entry 2: plate'),
    (push('all', 2, ('allow', 'OK1'), ('allow', 'AB1', 'two words')), 'entry 2: a camera id'),
    ({'scope': 'all', 'version': 2, 'entries': [{'list': 'allow', 'plate': 'AB1', 'valid_from': 'soon'}]},
     'not an ISO 8601'),
    ({'scope': 'all', 'version': 2, 'entries': [{'list': 'allow', 'plate': 'AB1', 'note': 5}]}, 'note'),
    ({'scope': 'all', 'version': 2, 'entries': [{'list': 'allow', 'plate': 'AB1', 'cameras': 'gate'}]},
     'cameras must be a list'),
])
def test_a_bad_push_is_refused_whole_with_the_reason(journal, payload, reason):
    add_local(journal)
    sync = ListsSync(journal)
    sync.apply(push('all', 1, ('allow', 'KEPT')))
    outcome = sync.apply(payload)
    assert outcome.status == 'refused' and reason in outcome.error
    assert outcome.ack()['status'] == 'error' and outcome.ack()['error'] == outcome.error
    assert rows(journal) == [('allow', 'KEPT', 'lpr-server/all/v1'), ('allow', 'LOCAL1', 'op')]
    assert sync.versions()['all'] == 1


def test_a_journal_failure_is_refused_and_leaves_the_old_list(journal, monkeypatch):
    sync = ListsSync(journal)
    sync.apply(push('all', 1, ('allow', 'KEPT')))

    def broken(session, update, now):
        session.add(AccessEntry(list_name='allow', plate='HALF', cameras='', note='',
                                created_by='lpr-server/all/v2', created_at=now))
        session.flush()
        raise lists_sync.SQLAlchemyError('disk I/O error')
    monkeypatch.setattr(lists_sync, 'replace_scope', broken)
    outcome = sync.apply(push('all', 2, ('allow', 'NEW')))
    assert outcome.status == 'refused' and 'disk I/O error' in outcome.error
    assert [p for _, p, _ in rows(journal)] == ['KEPT'] and sync.versions()['all'] == 1


def test_only_the_server_marker_counts_as_server_origin():
    assert parse_origin('lpr-server/all/v12') == ('all', 12)
    assert parse_origin('lpr-server/device/v1') == ('device', 1)
    assert parse_origin('op') is None and parse_origin('lpr-server/site/v1') is None


# -- the web journal: server entries are read-only ------------------------------------------
def test_the_web_journal_marks_server_entries_and_refuses_to_delete_them(tmp_path):
    pytest.importorskip('starlette')
    from starlette.testclient import TestClient

    from lpr_web.app import create_app
    from lpr_web.store import SERVER_ORIGIN, WebStore
    assert SERVER_ORIGIN == lists_sync.ORIGIN
    url = sqlite_url(tmp_path / 'journal.sqlite')
    j = Journal(url)
    add_local(j, 'LOCAL1')
    ListsSync(j).apply(push('all', 1, ('deny', 'SERVER1')))
    j.close()
    web = WebStore(url, tmp_path / 'images')
    try:
        web.set_user('op', 'correct horse battery')
        with pytest.raises(ValueError, match='reserved'):
            web.set_user('lpr-server/all/v9', 'correct horse battery')
        client = TestClient(create_app(web, 'test-secret'), follow_redirects=False)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get('/login').text).group(1)
        client.post('/login', data={'user': 'op', 'password': 'correct horse battery', 'csrf': token, 'next': '/'})
        page = client.get('/lists').text
        server_row = re.search(r'<tr class="entry server">.*?</tr>', page, re.S).group(0)
        assert 'SERVER1' in server_row and 'Delete' not in server_row
        local_row = re.search(r'<tr class="entry">.*?</tr>', page, re.S).group(0)
        assert 'LOCAL1' in local_row and 'Delete' in local_row
        ids = {e.plate: e.id for e in web.entries()}
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        r = client.post(f'/lists/{ids["SERVER1"]}/delete', data={'csrf': token})
        assert r.status_code == 403 and 'central server' in r.text
        assert client.post(f'/lists/{ids["LOCAL1"]}/delete', data={'csrf': token}).status_code == 303
        assert [e.plate for e in web.entries()] == ['SERVER1']
    finally:
        web.close()


# -- end to end: the real lpr-server and the bridge's transport ------------------------------
def cli(server_dir, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'lpr_server', *args, '--data-dir', str(server_dir)],
                          capture_output=True, text=True, timeout=60)


def plates(journal) -> list[str]:
    return [p for _, p, _ in rows(journal)]


def test_lists_reach_the_edges_they_concern(tmp_path):
    server_dir = tmp_path / 'server'
    server_dir.mkdir()
    tokens = {}
    for name in ('edge1', 'edge2'):
        done = cli(server_dir, 'device', 'add', name)
        assert done.returncode == 0, done.stderr
        tokens[name] = done.stdout.strip()
    edges = {name: Journal(sqlite_url(tmp_path / name / 'journal.sqlite')) for name in tokens}
    add_local(edges['edge2'], 'LOCAL2')
    transports = []

    def connect(name):
        t = SocketIoTransport(server.url, token=tokens[name], timeout_s=10, allow_insecure=True,
                              lists=ListsSync(edges[name]))
        transports.append(t)
        t.connect()
        return t

    server = LprServerProcess(server_dir, args=('--list-poll-s', '0.5')).start()
    try:
        connect('edge1')
        done = cli(server_dir, 'list', 'add', 'allow', 'AB-123', '--note', 'staff')
        assert done.returncode == 0 and 'all-devices list now v1' in done.stdout, done.stderr
        started = time.monotonic()
        assert wait_for(lambda: plates(edges['edge1']) == ['AB123'], 10)
        pushed_in = time.monotonic() - started
        assert cli(server_dir, 'list', 'add', 'deny', 'XY999', '--device', 'edge1').returncode == 0
        assert wait_for(lambda: plates(edges['edge1']) == ['AB123', 'XY999'], 10)

        connect('edge2')                   # later: gets the current list on connect, not edge1's
        assert plates(edges['edge2']) == ['AB123', 'LOCAL2']
        assert rows(edges['edge2'])[0][2] == 'lpr-server/all/v1'

        csv_file = tmp_path / 'more.csv'
        csv_file.write_text('list,plate,cameras\nvisitor,VV1,gate\n')
        assert cli(server_dir, 'list', 'import', str(csv_file)).returncode == 0
        assert wait_for(lambda: plates(edges['edge2']) == ['AB123', 'LOCAL2', 'VV1'], 10)
        assert wait_for(lambda: plates(edges['edge1']) == ['AB123', 'VV1', 'XY999'], 10)

        shown = cli(server_dir, 'list', 'show').stdout
        entry_id = re.search(r'^\s*(\d+) allow\s+AB123', shown, re.M).group(1)
        assert cli(server_dir, 'list', 'remove', entry_id).returncode == 0
        assert wait_for(lambda: plates(edges['edge2']) == ['LOCAL2', 'VV1'], 10)
        assert wait_for(lambda: plates(edges['edge1']) == ['VV1', 'XY999'], 10)
        assert wait_for(lambda: 'edge2 holds the all list v3 (applied' in cli(server_dir, 'list', 'show').stdout, 10)
        bad = cli(server_dir, 'list', 'add', 'deny', 'AB1', '--device', 'nobody')
        assert bad.returncode == 1 and 'no device' in bad.stderr
    finally:
        for t in transports:
            t.close()
        server.stop()
        for j in edges.values():
            j.close()
    print(f'\nlist push: in the edge journal {pushed_in:.2f} s after the CLI returned (watcher every 0.5 s)')
