"""The local web journal (lpr_web): the pure core (plate tolerance, access
lists, CSV import, passwords, rate limit, image paths), the app through
Starlette's TestClient (login, CSRF, sessions, hostile text, search, export,
corrections) and one run in real headless Chromium."""
import csv
import datetime as dt
import io
import json
import re
import shutil
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from lpr_recorder.images import ImageStore
from lpr_recorder.journal import Event, Journal, PlateCorrection, sqlite_url
from lpr_recorder.passes import Observation, PassAggregator, PassConfig
from lpr_recorder.writer import EventWriter, Evidence

starlette = pytest.importorskip('starlette')
from starlette.testclient import TestClient  # noqa: E402

from lpr_access import lists  # noqa: E402
from lpr_web import access  # noqa: E402
from lpr_web.app import WebOptions, create_app  # noqa: E402
from lpr_web.auth import LoginLimiter, hash_password, verify_password  # noqa: E402
from lpr_access.plates import EXACT, Tolerance, matches_partial, matches_whole  # noqa: E402
from lpr_web.store import SearchQuery, WebStore  # noqa: E402
from lpr_web.visits import Gates, Passage, format_duration, pair  # noqa: E402

UTC = dt.timezone.utc
T0 = 1_750_000_000.0                       # 2025-06-15 15:06:40 UTC
WHEN = dt.datetime.fromtimestamp(T0, UTC)
PASSWORD = 'correct horse battery'
JPEG = cv2.imencode('.jpg', np.full((120, 160, 3), 90, np.uint8))[1].tobytes()


def _commit(writer, text, t0, camera='cam0'):
    agg = PassAggregator(PassConfig(preview_reads=0))
    crop = np.full((30, 100, 3), 200, np.uint8)
    for i in range(3):
        agg.add(Observation(camera, int((t0 + 0.1 * i) * 1e9), text, 0.9, (10, 20, 100, 30),
                            payload=Evidence(JPEG, crop, i)))
    (decision,) = agg.flush()
    return writer.commit(decision)


def _raw_event(journal, event_id, plate, when=WHEN):
    journal.add(Event(event_id=event_id, camera_id='cam1', plate=plate, confidence=0.5, first_seen=when,
                      last_seen=when, best_seen=when, created_at=when))


@pytest.fixture
def data(tmp_path):
    """A journal with two real events (images written) and two hostile plates."""
    d = tmp_path / 'data'
    journal = Journal(sqlite_url(d / 'journal.sqlite'))
    writer = EventWriter(journal, ImageStore(d / 'images'))
    _commit(writer, 'AB12CDE', T0)
    _commit(writer, 'XY34ZZZ', T0 + 60)
    _raw_event(journal, 'evil-1', '<script>alert(1)</script>')
    _raw_event(journal, 'evil-2', "' OR 1=1 --")
    journal.close()
    return d


@pytest.fixture
def store(data):
    s = WebStore(sqlite_url(data / 'journal.sqlite'), data / 'images')
    s.set_user('op', PASSWORD)
    yield s
    s.close()


def _client(store, **kw):
    return TestClient(create_app(store, 'test-secret', **kw), follow_redirects=False)


def _csrf(response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def _login(client, password=PASSWORD):
    token = _csrf(client.get('/login'))
    return client.post('/login', data={'user': 'op', 'password': password, 'csrf': token, 'next': '/'})


@pytest.fixture
def client(store):
    c = _client(store)
    assert _login(c).status_code == 303
    return c


# -- the pure core ----------------------------------------------------------------------
def test_partial_search_tolerates_one_character_and_glyph_twins():
    assert matches_partial('B12C', 'AB12CDE')                 # a part, anywhere
    assert matches_partial('ab 12-cde', 'AB12CDE')            # case and separators ignored
    assert matches_partial('AB13CDE', 'AB12CDE')              # one wrong character
    assert matches_partial('AB12DE', 'AB12CDE')               # one missing
    assert not matches_partial('AX13CDE', 'AB12CDE')          # two wrong
    assert matches_partial('A812CDE', 'AB12CDE') and matches_partial('ABI2COE', 'AB12CDE')  # twins are free
    assert matches_partial('4B12C3E', 'AB12CDE')              # confusables (A/4, E/3...) too
    assert not matches_partial('4B12C3E', 'AB12CDE', Tolerance(max_edits=1, confusables=False))
    assert not matches_partial('K', 'AB12CDE') and not matches_partial('KX', 'AB12CDE')  # short: exact only
    assert not matches_partial('AB13CDE', 'AB12CDE', EXACT)
    assert matches_whole('AB12CDE', 'AB12CDF') == 1 and matches_whole('AB12CDE', 'XB12CDF') is None


def test_list_matching_windows_scope_precedence_and_fuzz():
    later = WHEN + dt.timedelta(days=2)
    entries = [lists.Entry('allow', 'AB12CDE', note='staff'),
               lists.Entry('deny', 'AB12CDF'),                              # one character off the allowed
               lists.Entry('visitor', 'XY34ZZZ', ('gate',), WHEN - dt.timedelta(hours=1),
                            WHEN + dt.timedelta(hours=1))]
    m = lists.match('AB12CDE', 'cam0', WHEN, entries)
    assert (m.decision, m.entry.note, m.distance) == ('allow', 'staff', 0)   # exact beats a fuzzy deny
    assert lists.match('AB12CD8', 'cam0', WHEN, entries).decision == 'deny'  # equally near: deny wins
    assert lists.match('A812CDE', 'cam0', WHEN, entries).decision == 'allow'  # twins
    assert lists.match('XY34ZZZ', 'gate', WHEN, entries).decision == 'visitor'
    assert lists.match('XY34ZZZ', 'cam0', WHEN, entries).decision == 'unknown'   # other camera
    assert lists.match('XY34ZZZ', 'gate', later, entries).decision == 'unknown'   # window over
    assert lists.match('XY34ZZ', 'gate', WHEN, entries).decision == 'visitor'    # one missing
    assert lists.match('XY34ZZ', 'gate', WHEN, entries, EXACT).decision == 'unknown'
    assert lists.match('QQ99QQQ', 'cam0', WHEN, entries) == lists.Match('unknown')


def test_csv_import_refuses_bad_lines_one_by_one_with_reasons():
    text = ('list,plate,cameras,valid_from,valid_until,note\n'
            'allow,ab-12 cde,,,,staff\n'
            'deny,XY34ZZZ,gate;cam0,2026-01-01T00:00+00:00,2027-01-01T00:00+00:00\n'
            'friend,AB12CDE\n'
            'allow,,\n'
            'allow,AB12CDE,,yesterday\n'
            'allow,AB12CDE,,2026-02-01,2026-01-01\n'
            'allow\n'
            '\n'
            'visitor,' + 'X' * 40 + '\n')
    result = access.parse_csv(text)
    assert [(e.list_name, e.plate, e.cameras) for e in result.entries] == [
        ('allow', 'AB12CDE', ()), ('deny', 'XY34ZZZ', ('gate', 'cam0'))]
    assert result.entries[1].valid_until == dt.datetime(2027, 1, 1, tzinfo=UTC)
    reasons = dict(result.errors)
    assert sorted(reasons) == [4, 5, 6, 7, 8, 10]
    assert 'list must be one of' in reasons[4] and 'no plate' in reasons[5]
    assert 'ISO 8601' in reasons[6] and 'not after' in reasons[7]
    assert 'expected 2 to 6' in reasons[8] and 'longer than 32' in reasons[10]


def test_passwords_are_stored_as_salted_scrypt_hashes():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith('scrypt$') and PASSWORD not in a   # salted, never the text
    assert verify_password(PASSWORD, a) and not verify_password(PASSWORD + 'x', a)
    assert not verify_password(PASSWORD, 'garbage') and not verify_password(PASSWORD, '')
    with pytest.raises(ValueError):
        hash_password('')


def test_login_limiter_counts_per_address_and_per_user():
    now = [0.0]
    limiter = LoginLimiter(attempts=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after('1.2.3.4', 'op') == 0
        limiter.failed('1.2.3.4', 'op')
    assert limiter.retry_after('1.2.3.4', 'other') == 60    # this address
    assert limiter.retry_after('5.6.7.8', 'OP') == 60       # this user, from anywhere
    assert limiter.retry_after('5.6.7.8', 'other') == 0
    now[0] = 61
    assert limiter.retry_after('1.2.3.4', 'op') == 0        # the window moved on


def test_image_paths_cannot_leave_the_image_directory(store, data, tmp_path):
    (tmp_path / 'secret.jpg').write_bytes(JPEG)
    (data / 'images' / 'link.jpg').symlink_to(tmp_path / 'secret.jpg')
    for bad in ('../journal.sqlite', '../../secret.jpg', str(tmp_path / 'secret.jpg'), 'link.jpg',
                'cam0/../../journal.sqlite', '', 'a\x00b', 'cam0'):
        with pytest.raises(LookupError):
            store.image_file(bad)
    good = store.latest()[-1].row.frame_path
    assert store.image_file(good).read_bytes() == JPEG


# -- the app -----------------------------------------------------------------------------
def test_no_page_or_api_without_login(store):
    c = _client(store)
    for path in ('/', '/journal/rows', '/search?q=AB', '/export.csv', '/export.json', '/lists',
                 '/health', '/event/evil-1', '/image/cam0/x.jpg', '/barrier', '/presence'):
        r = c.get(path)
        assert r.status_code == 303 and r.headers['location'].startswith('/login'), path
    assert c.get('/api/events').status_code == 401
    for path in ('/logout', '/event/evil-1/correct', '/lists/add', '/lists/import', '/lists/1/delete',
                 '/barrier/open'):
        assert c.post(path, data={}).status_code == 401, path
    assert c.get('/login').status_code == 200
    checked = {r.path for r in create_app(store).routes} - {'/login', '/static'}
    assert len(checked) == 17   # a new route gets a line above


def test_login_needs_csrf_and_the_right_password_then_sets_a_session(store):
    c = _client(store)
    page = c.get('/login')
    assert 'httponly' in page.headers['set-cookie'].lower() and 'samesite=strict' in page.headers['set-cookie'].lower()
    assert "default-src 'self'" in page.headers['content-security-policy']
    assert c.post('/login', data={'user': 'op', 'password': PASSWORD}).status_code == 403   # no token
    assert _login(c, 'wrong').status_code == 401
    r = _login(c)
    assert r.status_code == 303 and c.get('/').status_code == 200
    token = _csrf(c.get('/'))
    assert c.post('/logout', data={'csrf': 'forged'}).status_code == 403
    assert c.post('/logout', data={'csrf': token}).status_code == 303
    assert c.get('/').status_code == 303                      # logged out


def test_changes_without_the_csrf_token_are_refused(client, store):
    assert client.post('/event/evil-1/correct', data={'plate': 'AB12CDE'}).status_code == 403
    assert client.post('/lists/add', data={'list_name': 'deny', 'plate': 'AB12CDE', 'csrf': 'x'}).status_code == 403
    assert store.corrections('evil-1') == [] and store.entries() == []


def test_bad_logins_are_rate_limited(store):
    c = _client(store, limiter=LoginLimiter(attempts=3, window_s=300))
    for _ in range(3):
        assert _login(c, 'wrong').status_code == 401
    r = _login(c)                                           # even the right password, for now
    assert r.status_code == 429 and 'Too many failed logins' in r.text


def test_sessions_expire(store):
    c = _client(store, options=WebOptions(max_session_s=0.2))
    assert _login(c).status_code == 303 and c.get('/').status_code == 200
    time.sleep(0.3)
    assert c.get('/').status_code == 303


def test_hostile_plate_text_is_shown_inert_and_stored_as_text(client, store):
    page = client.get('/').text
    assert '<script>alert(1)</script>' not in page and '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert '&#39; OR 1=1 --' in page
    assert store.event('evil-2').row.plate == "' OR 1=1 --"          # stored as given
    r = client.get('/search', params={'q': "' OR 1=1 --"})
    assert r.status_code == 200 and 'href="/event/evil-2"' in r.text
    assert client.get('/event/evil-1').status_code == 200
    assert 'alert(1)</script>' not in client.get('/event/evil-1').text


def test_search_correction_decision_and_export(client, store):
    r = client.get('/search', params={'q': 'AB13CDE'})                 # one wrong character
    assert '1 event(s)' in r.text and 'AB12CDE' in r.text
    (found,) = store.search(SearchQuery(text='AB12CDE'))
    event = found.row
    token = _csrf(client.get(f'/event/{event.event_id}'))
    assert client.post(f'/event/{event.event_id}/correct', data={'plate': '', 'csrf': token}).status_code == 400
    r = client.post(f'/event/{event.event_id}/correct', data={'plate': 'ab12 cdf', 'note': 'glare', 'csrf': token})
    assert r.status_code == 303
    view = store.event(event.event_id)
    assert (view.row.plate, view.corrected) == ('AB12CDE', 'AB12CDF')          # beside the original
    (correction,) = store.corrections(event.event_id)
    assert (correction.original_plate, correction.corrected_by, correction.note) == ('AB12CDE', 'op', 'glare')
    assert client.post('/lists/add', data={'list_name': 'deny', 'plate': 'AB12CDF', 'csrf': token}).status_code == 303
    assert store.event(event.event_id).decision.decision == 'deny'            # decided on the correction
    r = client.get('/search', params={'decision': 'deny'})
    assert '1 event(s)' in r.text and 'class="decision deny"' in r.text
    rows = list(csv.DictReader(io.StringIO(client.get('/export.csv', params={'q': 'AB12CD'}).text)))
    assert [(x['plate'], x['corrected_plate'], x['decision']) for x in rows] == [('AB12CDE', 'AB12CDF', 'deny')]
    payload = json.loads(client.get('/export.json', params={'camera': 'cam1'}).text)
    assert sorted(x['event_id'] for x in payload) == ['evil-1', 'evil-2']
    assert client.get('/search', params={'since': 'nonsense'}).status_code == 400


def test_csv_export_neutralises_formulas(client, store):
    store.journal.add(Event(event_id='formula', camera_id='cam2', plate='=HYPERLINK(1)', confidence=0.5,
                            first_seen=WHEN, last_seen=WHEN, best_seen=WHEN, created_at=WHEN))
    (row,) = csv.DictReader(io.StringIO(client.get('/export.csv', params={'camera': 'cam2'}).text))
    assert row['plate'] == "'=HYPERLINK(1)"


def test_list_import_page_reports_each_bad_line(client, store):
    token = _csrf(client.get('/lists'))
    r = client.post('/lists/import', data={'csrf': token},
                    files={'file': ('l.csv', b'allow,AB12CDE\nnope,XY34ZZZ\ndeny,\n', 'text/csv')})
    assert r.status_code == 422 and '1 entry imported' in r.text
    assert 'line 2: list must be one of' in r.text and 'line 3: no plate' in r.text
    assert [e.plate for e in store.entries()] == ['AB12CDE']
    (entry,) = store.entries()
    assert client.post(f'/lists/{entry.id}/delete', data={'csrf': token}).status_code == 303
    assert store.entries() == []


def test_images_are_served_only_from_the_image_directory(client, store):
    (found,) = store.search(SearchQuery(text='XY34ZZZ'))
    frame = found.row.frame_path
    r = client.get('/image/' + frame)
    assert r.status_code == 200 and r.content == JPEG
    for bad in ('/image/../journal.sqlite', '/image/..%2Fjournal.sqlite', '/image/%2Fetc%2Fpasswd',
                '/image/cam0/..%2F..%2Fjournal.sqlite'):
        assert client.get(bad).status_code == 404, bad


def test_health_page_counts(client):
    r = client.get('/health')
    assert r.status_code == 200 and '<dd id="event-count">4</dd>' in r.text and 'pending: 4' in r.text


def test_cli_adds_a_user_with_a_hashed_password(data, monkeypatch):
    from lpr_web.cli import main
    monkeypatch.setattr('sys.stdin', io.StringIO('s3cret-pass\n'))
    assert main(['--data-dir', str(data), 'user', 'add', 'guard', '--password-stdin']) == 0
    store = WebStore(sqlite_url(data / 'journal.sqlite'), data / 'images')
    stored = store.password_hash('guard')
    assert stored.startswith('scrypt$') and verify_password('s3cret-pass', stored)
    store.close()
    monkeypatch.setattr('sys.stdin', io.StringIO('short\n'))
    assert main(['--data-dir', str(data), 'user', 'add', 'guard', '--password-stdin']) == 2


# -- manual barrier opens ------------------------------------------------------------------
def test_open_barrier_needs_login_and_csrf_and_the_access_core_executes_it_once(client, store):
    from sqlalchemy.orm import sessionmaker

    from lpr_access.barrier import make_barrier
    from lpr_access.manual import ManualOpens
    assert _client(store).post('/barrier/open', data={'camera': 'cam0'}).status_code == 401   # no login
    assert client.post('/barrier/open', data={'camera': 'cam0'}).status_code == 403            # no token
    assert client.post('/barrier/open', data={'camera': 'cam0', 'csrf': 'forged'}).status_code == 403
    assert store.barrier_requests() == []
    page = client.get('/')
    assert 'id="open-barrier"' in page.text and '<option>cam0</option>' in page.text
    token = _csrf(page)
    r = client.post('/barrier/open', data={'camera': 'cam0', 'reason': 'delivery van', 'csrf': token, 'next': '/'})
    assert r.status_code == 303 and r.headers['location'] == '/'
    r = client.post('/barrier/open', data={'event_id': 'evil-1', 'csrf': token, 'next': '/event/evil-1'})
    assert r.status_code == 303 and r.headers['location'] == '/event/evil-1'
    assert client.post('/barrier/open', data={'event_id': 'nope', 'csrf': token}).status_code == 404
    assert client.post('/barrier/open', data={'camera': 'c' * 65, 'csrf': token}).status_code == 400
    from_event, manual = store.barrier_requests()
    assert (manual.requested_by, manual.camera_id, manual.reason, manual.state) == ('op', 'cam0', 'delivery van',
                                                                                  'pending')
    assert (from_event.camera_id, from_event.event_id, from_event.plate) == ('cam1', 'evil-1',
                                                                             '<script>alert(1)</script>')
    said = []
    opens = ManualOpens(sessionmaker(store.journal.engine), expiry_s=30)
    outcomes = opens.poll(make_barrier('log', 1.0, said.append))
    assert [o.state for o in outcomes] == ['done', 'done'] and len(said) == 2
    assert opens.poll(make_barrier('log', 1.0, said.append)) == [] and len(said) == 2      # once only
    trail = client.get('/barrier').text
    assert trail.count('class="state done"') == 2 and 'pulsed by driver log' in trail and 'delivery van' in trail
    event_page = client.get('/event/evil-1').text        # its own audit, the plate inert
    assert 'class="state done"' in event_page and '<script>alert(1)</script>' not in event_page
    assert 'Open barrier at cam1' in event_page


# -- entry/exit pairing ----------------------------------------------------------------------
GATES = Gates(('in',), ('out',))


def _at(minutes: float) -> dt.datetime:
    return WHEN + dt.timedelta(minutes=minutes)


def _p(event_id, camera, plate, minutes):
    return Passage(event_id, camera, plate, _at(minutes))


def test_pairing_of_visits_exits_without_entries_and_cars_still_inside():
    passages = [_p('e1', 'in', 'AB12CDE', 0), _p('x1', 'out', 'AB12CDE', 30),      # a visit
                _p('e2', 'in', 'AB12CDE', 60), _p('x2', 'out', 'AB12CDE', 75),     # the same car again
                _p('x3', 'out', 'QQ11QQQ', 80),                                      # exit without entry
                _p('e4', 'in', 'XY34ZZZ', 90),                                       # never left
                _p('m1', 'lobby', 'AB12CDE', 95)]                                    # not a gate
    result = pair(reversed(passages), GATES, now=_at(120))
    durations = [(v.entry and v.entry.event_id, v.exit and v.exit.event_id, v.duration) for v in result.visits]
    assert durations == [('e1', 'x1', dt.timedelta(minutes=30)), ('e2', 'x2', dt.timedelta(minutes=15)),
                         (None, 'x3', None), ('e4', None, None)]
    (inside,) = result.inside(_at(120))
    assert inside.entry.event_id == 'e4' and inside.since_entry(_at(120)) == dt.timedelta(minutes=30)
    assert result.by_event['x2'] is result.by_event['e2'] and 'm1' not in result.by_event


def test_pairing_tolerates_a_misread_prefers_exact_and_keeps_two_cars_apart():
    result = pair([_p('a', 'in', 'AB12CDE', 0), _p('b', 'in', 'AB12CDF', 5),         # two cars, one char apart
                   _p('xa', 'out', 'AB12CDE', 20),                                    # exact: the older one
                   _p('xb', 'out', 'A812CDF', 30)], GATES)                            # twin B/8: still b
    assert result.by_event['xa'].entry.event_id == 'a' and result.by_event['xb'].entry.event_id == 'b'
    misread = pair([_p('c', 'in', 'KL55MNO', 0), _p('xc', 'out', 'KL55MN0', 10),      # O/0 twin
                    _p('d', 'in', 'RS77TUV', 11), _p('xd', 'out', 'RS77TUW', 12)], GATES)   # one edit
    assert misread.by_event['xc'].entry.event_id == 'c' and misread.by_event['xd'].distance == 1
    far = pair([_p('e', 'in', 'RS77TUV', 0), _p('xe', 'out', 'RS88TUW', 5)], GATES)    # three edits: no pair
    assert far.by_event['xe'].entry is None and far.by_event['e'].inside


def test_pairing_closes_a_repeated_entry_and_a_stay_past_the_limit():
    result = pair([_p('e1', 'in', 'AB12CDE', 0), _p('e2', 'in', 'AB12CDE', 10),      # exit missed
                   _p('x', 'out', 'AB12CDE', 20)], GATES, now=_at(30))
    assert result.by_event['e1'].exit_missed and result.by_event['x'].entry.event_id == 'e2'
    assert result.inside(_at(30)) == []
    short = Gates(('in',), ('out',), dt.timedelta(hours=1))
    stale = pair([_p('e', 'in', 'AB12CDE', 0), _p('x', 'out', 'AB12CDE', 90)], short, now=_at(100))
    assert stale.by_event['x'].entry is None and stale.by_event['e'].exit_missed
    assert format_duration(dt.timedelta(hours=26, minutes=4)) == '1 d 2 h 04 min'
    assert format_duration(dt.timedelta(minutes=12, seconds=3)) == '12 min 03 s'
    with pytest.raises(ValueError):
        Gates.parse('in out', 'out')
    assert Gates.parse('in, in2', 'out').entry == ('in', 'in2') and not Gates.parse('', '').configured


def test_presence_page_event_visit_and_export_durations(data):
    store = WebStore(sqlite_url(data / 'journal.sqlite'), data / 'images', gates=GATES)
    store.set_user('op', PASSWORD)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    for event_id, camera, plate, ago in (('g1', 'in', 'AB12CDE', 120), ('g2', 'out', 'AB12CDF', 45),
                                         ('g3', 'in', 'XY34ZZZ', 30)):
        when = now - dt.timedelta(minutes=ago)
        store.journal.add(Event(event_id=event_id, camera_id=camera, plate=plate, confidence=0.9, first_seen=when,
                                last_seen=when, best_seen=when, created_at=when))
    c = _client(store)
    assert _login(c).status_code == 303
    page = c.get('/presence').text
    assert 'XY34ZZZ' in page and re.search(r'class="since">3\d min', page)             # inside, ~30 min
    assert 'class="parked">1 h 15 min</td>' in page
    assert 'id="parked">1 h 15 min' in c.get('/event/g2').text
    assert 'inside for 3' in c.get('/event/g3').text
    rows = {r['event_id']: r for r in csv.DictReader(io.StringIO(c.get('/export.csv').text))}
    assert (rows['g2']['gate'], rows['g2']['paired_event_id'], rows['g2']['parked_s']) == ('exit', 'g1', '4500.0')
    assert (rows['g1']['gate'], rows['g3']['gate'], rows['g3']['parked_s']) == ('entry', 'entry', '')
    assert rows['evil-1']['gate'] == ''
    payload = {r['event_id']: r for r in json.loads(c.get('/export.json').text)}
    assert payload['g1']['parked_s'] == 4500.0 and payload['g1']['paired_event_id'] == 'g2'
    store.close()


def test_presence_page_without_gates_says_how_to_set_them(client):
    assert 'id="no-gates"' in client.get('/presence').text


# -- a real browser ----------------------------------------------------------------------
def _chromium():
    browser, driver = shutil.which('chromium'), shutil.which('chromedriver')
    if not (browser and driver):
        pytest.skip("headless browser test: Debian's chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip('selenium.webdriver')
    return webdriver, browser, driver


@pytest.fixture
def server(store):
    """The app under uvicorn on a free port of 127.0.0.1, in a thread."""
    import uvicorn
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(store, 'test-secret'), host='127.0.0.1', port=port,
                                        log_level='warning'))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f'http://127.0.0.1:{port}'
    srv.should_exit = True
    thread.join(10)


def test_in_headless_chromium(server, store, tmp_path):
    """Log in, see an event, find it with one wrong character, open it,
    correct it, export CSV, add a deny entry, ask for a manual open; a
    screenshot is kept."""
    webdriver, browser, driver_path = _chromium()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    downloads = tmp_path / 'downloads'
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--window-size=1280,1000', '--no-first-run', f'--user-data-dir={tmp_path / "profile"}'):
        options.add_argument(arg)
    options.add_experimental_option('prefs', {'download.default_directory': str(downloads),
                                              'download.prompt_for_download': False})
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    wait = WebDriverWait(chrome, 15)
    try:
        chrome.get(server + '/')
        assert '/login' in chrome.current_url
        chrome.find_element(By.ID, 'user').send_keys('op')
        chrome.find_element(By.ID, 'password').send_keys(PASSWORD)
        chrome.find_element(By.ID, 'login').click()
        wait.until(lambda c: c.find_elements(By.CSS_SELECTOR, 'tr.event'))
        plates = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, 'td.plate a')]
        assert 'AB12CDE' in plates and '<script>alert(1)</script>' in plates   # shown, as text
        chrome.get(server + '/search')
        chrome.find_element(By.ID, 'q').send_keys('AB13CDE')                  # one wrong character
        chrome.find_element(By.ID, 'search').click()
        link = wait.until(lambda c: c.find_element(By.LINK_TEXT, 'AB12CDE'))
        link.click()
        wait.until(lambda c: c.find_element(By.ID, 'plate').text == 'AB12CDE')
        assert chrome.execute_script(
            "return [...document.querySelectorAll('.images img')].every(i => i.complete && i.naturalWidth > 0)")
        box = chrome.find_element(By.ID, 'correction')
        box.clear()
        box.send_keys('AB12CDF')
        chrome.find_element(By.ID, 'correct').click()
        wait.until(lambda c: c.find_element(By.ID, 'plate').text == 'AB12CDF')
        assert chrome.find_element(By.ID, 'original').text == 'AB12CDE'
        chrome.get(server + '/search?q=AB12CD')
        chrome.find_element(By.ID, 'export-csv').click()
        deadline = time.monotonic() + 15
        while not list(downloads.glob('*.csv')) and time.monotonic() < deadline:
            time.sleep(0.1)
        (exported,) = downloads.glob('*.csv')
        (row,) = csv.DictReader(io.StringIO(exported.read_text()))
        assert (row['plate'], row['corrected_plate']) == ('AB12CDE', 'AB12CDF')
        chrome.get(server + '/lists')
        chrome.find_element(By.ID, 'list-name').send_keys('deny')
        chrome.find_element(By.ID, 'list-plate').send_keys('AB12CDF')
        chrome.find_element(By.ID, 'list-add').click()
        wait.until(lambda c: c.find_elements(By.CSS_SELECTOR, 'tr.entry'))
        assert [e.list_name for e in store.entries()] == ['deny']
        chrome.get(server + '/')
        wait.until(lambda c: c.find_elements(By.CSS_SELECTOR, '.decision.deny'))
        chrome.find_element(By.ID, 'open-reason').send_keys('visitor at the gate')
        chrome.find_element(By.ID, 'open-barrier').click()          # a request for the access node
        wait.until(lambda c: c.find_elements(By.CSS_SELECTOR, '#requests tr.request'))
        assert [(q.requested_by, q.reason, q.state) for q in store.barrier_requests()] == [
            ('op', 'visitor at the gate', 'pending')]
        chrome.save_screenshot(str(tmp_path / 'web-journal.png'))
        assert not chrome.find_elements(By.ID, 'error')
    finally:
        chrome.quit()
    assert (tmp_path / 'web-journal.png').stat().st_size > 10_000
    print(f'screenshot: {tmp_path / "web-journal.png"}')


def test_health_page_shows_each_node_stale_ones_and_errors_escaped(client, store):
    from lpr_recorder.health_rows import HealthRow
    from lpr_recorder.health_store import write_rows
    now = dt.datetime.now(UTC)
    write_rows(store.journal.engine, [
        HealthRow('/cam0/camera', 'cam0', 0, 'active',
                  {'lifecycle': 'active', 'cpu_percent': 31.5, 'rss_mb': 120.25, 'connected': True,
                   'last_frame_age_s': 0.04, 'source_fps': 15.0}, now),
        HealthRow('/cam0/recorder', 'cam0', 2, 'cannot record <b>events</b>',
                  {'lifecycle': 'active', 'disk_free_gb': 3.5, 'temperature_c': 61.0, 'queued': 7}, now),
        HealthRow('/cam0/detector', 'cam0', 0, 'active', {'lifecycle': 'active', 'fps': 14.0},
                  now - dt.timedelta(minutes=10)),
    ])
    r = client.get('/health')
    assert r.status_code == 200 and '<dd id="event-count">4</dd>' in r.text     # the journal facts stay
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr class="node[^"]*">\s*<td title="/cam0/(\w+)".*?</tr>',
                                                         r.text, re.S)}
    assert set(rows) == {'camera', 'recorder', 'detector'}
    assert 'connected yes' in rows['camera'] and 'last_frame_age_s 0.04' in rows['camera']
    assert '31.50' in rows['camera'] and 'class="node"' in rows['camera']
    assert 'class="node problem"' in rows['recorder'] and 'level error' in rows['recorder']
    assert 'cannot record &lt;b&gt;events&lt;/b&gt;' in rows['recorder'] and '<b>events' not in r.text
    assert 'class="node problem stale"' in rows['detector'] and 'STALE' in rows['detector']
    assert '3.50 GB (recorder)' in r.text and '61.00 °C' in r.text
