"""Access decisions and the barrier: the pure decision core, the drivers (log,
an HTTP relay on 127.0.0.1, GPIO with a stubbed gpiozero) and the node in this
process (a preview of an allowed plate opens the barrier)."""
from __future__ import annotations

import datetime as dt
import http.server
import socket
import sys
import threading
import time
import types
import uuid

import pytest

from lpr_access.barrier import GpioBarrier, HttpBarrier, make_barrier
from lpr_access.config import AccessConfig
from lpr_access.decide import DENY, FINAL, OPEN, PREVIEW, REVIEW, Decider, Sighting
from lpr_access.lists import Entry
from lpr_access.plates import EXACT
from lpr_common.config import ConfigError, build_config
import test_nodes
from test_nodes import make, probe, wait_for

ros = test_nodes.ros   # the in-process ROS fixture (rclpy context + executor thread)
UTC = dt.timezone.utc
NOON = dt.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LISTS = [
    Entry('allow', 'AB12CDE'),
    Entry('deny', 'XY99ZZZ'),
    Entry('visitor', 'VIS1234', valid_from=NOON - dt.timedelta(hours=1), valid_until=NOON + dt.timedelta(hours=1)),
    Entry('allow', 'GATE001', cameras=('gate-in',)),
]


def seen(plate: str, source: str = PREVIEW, event_id: str = '', camera: str = 'gate-in', when=NOON) -> Sighting:
    return Sighting(event_id or str(uuid.uuid4()), camera, plate, when, source)


# -- the decision core ---------------------------------------------------------------------
def test_lists_decide_open_deny_and_unknown_goes_to_review_or_deny():
    decider = Decider()
    allowed = decider.decide(seen('AB12CDE'), LISTS)
    assert (allowed.decision, allowed.list_name, allowed.distance, allowed.pulse) == (OPEN, 'allow', 0, True)
    fuzzy = decider.decide(seen('AB12C0E'), LISTS)          # glyph twin D/0: still the listed plate
    assert fuzzy.decision == OPEN and fuzzy.entry_plate == 'AB12CDE'
    one_off = decider.decide(seen('AB12CDF'), LISTS)        # one edit
    assert one_off.decision == OPEN and one_off.distance == 1 and 'edit' in one_off.reason
    denied = decider.decide(seen('XY99ZZZ'), LISTS)
    assert (denied.decision, denied.list_name, denied.pulse) == (DENY, 'deny', False)
    unknown = decider.decide(seen('QQ11QQQ'), LISTS)
    assert (unknown.decision, unknown.list_name, unknown.pulse) == (REVIEW, '', False)
    assert Decider(unknown='deny').decide(seen('QQ11QQQ'), LISTS).decision == DENY
    assert Decider(tolerance=EXACT).decide(seen('AB12CDF'), LISTS).decision == REVIEW
    with pytest.raises(ValueError):
        Decider(unknown='open')


def test_visitor_opens_only_within_its_window_and_scope_limits_cameras():
    decider = Decider()
    assert decider.decide(seen('VIS1234'), LISTS).decision == OPEN
    assert decider.decide(seen('VIS1234', when=NOON + dt.timedelta(hours=2)), LISTS).decision == REVIEW
    assert decider.decide(seen('VIS1234', when=NOON - dt.timedelta(hours=2)), LISTS).decision == REVIEW
    assert decider.decide(seen('GATE001', camera='gate-in'), LISTS).decision == OPEN
    assert decider.decide(seen('GATE001', camera='gate-out'), LISTS).decision == REVIEW


def test_one_decision_per_event_and_a_contradicting_final_is_a_correction():
    decider = Decider()
    first = decider.decide(seen('AB12CDE', event_id='e1'), LISTS)
    assert first.pulse and not first.correction
    assert decider.decide(seen('AB12CDE', FINAL, event_id='e1'), LISTS) is None   # agrees: silent, no second open
    # The final read better: the plate is on the deny list. Published as a
    # correction; the barrier was opened already and is not opened again.
    fix = decider.decide(seen('XY99ZZZ', FINAL, event_id='e1'), LISTS)
    assert fix.correction and fix.decision == DENY and not fix.pulse and 'opened already' in fix.reason
    # Review at the preview, allowed at the final: the correction opens (once).
    assert decider.decide(seen('QQ11QQQ', event_id='e2'), LISTS).decision == REVIEW
    late = decider.decide(seen('AB12CDE', FINAL, event_id='e2'), LISTS)
    assert late.correction and late.decision == OPEN and late.pulse
    # A final without a preview (preview_reads: 0, ANPR cameras) decides like a preview.
    only_final = decider.decide(seen('AB12CDE', FINAL, event_id='e3'), LISTS)
    assert only_final.pulse and not only_final.correction and only_final.source == FINAL


def test_bad_parameters_are_refused():
    assert build_config(AccessConfig, {}).driver == 'log'
    for values in ({'driver': 'relay'}, {'unknown': 'open'}, {'driver': 'http'}, {'fail_safe': 'ajar'},
                   {'pulse_s': 0.0}):
        with pytest.raises(ConfigError):
            build_config(AccessConfig, values)


# -- drivers -----------------------------------------------------------------------------
def test_log_driver_says_what_it_would_do():
    said = []
    barrier = make_barrier('log', 1.5, said.append)
    assert barrier.open() and barrier.pulses == 1 and barrier.healthy
    assert said == ['barrier open, pulse 1.5 s (driver log: nothing driven)']


@pytest.fixture
def relay():
    """A relay on 127.0.0.1 that records requests; ``fail`` makes it answer 500."""
    calls, state = [], {'fail': False}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            calls.append((self.command, self.path))
            self.send_response(500 if state['fail'] else 200)
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_port}', calls, state
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_http_driver_requests_the_relay_and_counts_failures_without_raising(relay):
    url, calls, state = relay
    barrier = HttpBarrier(2.0, print, url + '/relay/0?turn=on&timer={pulse_s}', 'GET', 1.0)
    assert barrier.open() and calls == [('GET', '/relay/0?turn=on&timer=2')]
    assert HttpBarrier(1.0, print, url + '/open').open() and calls[-1] == ('POST', '/open')
    state['fail'] = True
    assert not barrier.open() and barrier.errors == 1 and '500' in barrier.last_error and not barrier.healthy
    state['fail'] = False
    assert barrier.open() and barrier.healthy and barrier.pulses == 2
    unreachable = HttpBarrier(1.0, print, f'http://127.0.0.1:{free_port()}/open', timeout_s=1.0)
    assert not unreachable.open() and unreachable.errors == 1 and 'refused' in unreachable.last_error.lower()


class FakeOutput:
    """gpiozero.DigitalOutputDevice as far as the driver uses it."""
    made: list = []

    def __init__(self, pin, active_high=True, initial_value=False):
        self.pin, self.active_high, self.value, self.closed = pin, active_high, initial_value, False
        self.blinks = []
        FakeOutput.made.append(self)

    def blink(self, on_time, off_time, n, background):
        self.blinks.append((on_time, off_time, n, background))

    def close(self):
        self.closed = True


@pytest.fixture
def gpiozero(monkeypatch):
    FakeOutput.made = []
    monkeypatch.setitem(sys.modules, 'gpiozero', types.SimpleNamespace(DigitalOutputDevice=FakeOutput))
    return FakeOutput


def test_gpio_driver_pulses_the_pin_and_stops_in_the_fail_safe_state(gpiozero):
    barrier = GpioBarrier(0.8, print, pin=27, active_high=False)
    device = gpiozero.made[0]
    assert (device.pin, device.active_high, device.value) == (27, False, False)
    assert barrier.open() and device.blinks == [(0.8, 0, 1, True)]
    device.value = True             # as if stopped mid-pulse
    barrier.stop()
    assert device.value is False    # fail-safe closed
    barrier.close()
    assert device.closed
    held_open = GpioBarrier(0.8, print, pin=22, fail_safe='open')
    assert gpiozero.made[1].value is True   # an emergency exit starts and stays open
    held_open.stop()
    assert gpiozero.made[1].value is True


def test_gpio_driver_without_gpio_is_an_error_never_an_exception(monkeypatch, gpiozero):
    monkeypatch.setitem(sys.modules, 'gpiozero', None)     # not installed
    barrier = GpioBarrier(1.0, print, pin=17)
    assert not barrier.healthy and 'GPIO17' in barrier.last_error
    assert not barrier.open() and barrier.errors == 2
    barrier.stop()
    barrier.close()

    class Broken(FakeOutput):
        def blink(self, **kwargs):
            raise OSError('pin busy')
    monkeypatch.setitem(sys.modules, 'gpiozero', types.SimpleNamespace(DigitalOutputDevice=Broken))
    barrier = GpioBarrier(1.0, print, pin=17)
    device = gpiozero.made[-1]
    device.value = True
    assert not barrier.open() and 'pin busy' in barrier.last_error
    assert device.value is False    # a failing driver leaves the output in the fail-safe state


# -- manual opens (the web journal's requests) -------------------------------------------------
def manual_journal(tmp_path, *requests):
    """A journal on disk holding these barrier requests; its sessionmaker."""
    from sqlalchemy.orm import sessionmaker

    from lpr_recorder.journal import Journal
    journal = Journal(f'sqlite:///{tmp_path / "journal.sqlite"}')
    sessions = sessionmaker(journal.engine, expire_on_commit=False)
    with sessions.begin() as s:
        s.add_all(requests)
    return journal, sessions


def request_states(sessions) -> list[tuple]:
    from sqlalchemy import select

    from lpr_recorder.journal import BarrierRequest
    with sessions() as s:
        return [(r.camera_id, r.state, r.result, r.handled_at is not None)
                for r in s.scalars(select(BarrierRequest).order_by(BarrierRequest.id))]


def test_manual_open_pulses_the_relay_once_and_records_the_result(relay, tmp_path):
    from lpr_access.manual import DONE, ManualOpens, request_row
    url, calls, _ = relay
    journal, sessions = manual_journal(tmp_path, request_row('gate-in', 'op', 'delivery'))
    opens = ManualOpens(sessions, expiry_s=30)
    barrier = HttpBarrier(1.0, print, url + '/open')
    (outcome,) = opens.poll(barrier)
    assert outcome.state == DONE and outcome.request.requested_by == 'op' and calls == [('POST', '/open')]
    assert opens.poll(barrier) == [] and len(calls) == 1                    # executed once
    assert ManualOpens(sessions).poll(barrier) == [] and len(calls) == 1   # by any node
    assert request_states(sessions) == [('gate-in', 'done', 'pulsed by driver http', True)]
    journal.close()


def test_manual_open_failing_driver_is_recorded_never_raised(relay, tmp_path):
    from lpr_access.manual import FAILED, ManualOpens, request_row
    url, calls, state = relay
    state['fail'] = True
    journal, sessions = manual_journal(tmp_path, request_row('', 'op'))
    (outcome,) = ManualOpens(sessions).poll(HttpBarrier(1.0, print, url + '/open'))
    assert outcome.state == FAILED and '500' in outcome.result and len(calls) == 1
    unreachable = HttpBarrier(1.0, print, f'http://127.0.0.1:{free_port()}/open', timeout_s=1.0)
    with sessions.begin() as s:
        s.add(request_row('', 'op'))
    (outcome,) = ManualOpens(sessions).poll(unreachable)
    assert outcome.state == FAILED and 'refused' in outcome.result.lower()
    assert [st[1] for st in request_states(sessions)] == ['failed', 'failed']
    journal.close()


def test_expired_manual_opens_are_never_executed(tmp_path):
    from lpr_access.manual import EXPIRED, ManualOpens, request_row, utc_now
    said = []
    barrier = make_barrier('log', 1.0, said.append)
    old = utc_now() - dt.timedelta(seconds=45)
    journal, sessions = manual_journal(tmp_path, request_row('gate-in', 'op', when=old))
    assert ManualOpens(sessions, expiry_s=30).poll(barrier) == [] and said == []
    (row,) = request_states(sessions)
    assert row[1] == EXPIRED and 'within 30 s' in row[2] and row[3]
    # Claimed in time, but the worker got to it late: expired at execution, not pulsed.
    with sessions.begin() as s:
        s.add(request_row('gate-in', 'op'))
    now = [utc_now()]
    opens = ManualOpens(sessions, expiry_s=30, clock=lambda: now[0])
    (claimed,) = opens.due()
    now[0] += dt.timedelta(seconds=31)
    assert opens.execute(claimed, barrier).state == EXPIRED and said == [] and barrier.pulses == 0
    journal.close()


def test_manual_opens_go_to_the_node_serving_their_camera(tmp_path):
    from lpr_access.manual import ManualOpens, request_row, utc_now
    journal, sessions = manual_journal(tmp_path, request_row('gate-in', 'op'), request_row('gate-out', 'op'),
                                       request_row('', 'op'))
    barrier = make_barrier('log', 1.0, lambda _: None)
    taken = ManualOpens(sessions, cameras=('gate-in',)).poll(barrier)
    assert sorted(o.request.camera for o in taken) == ['', 'gate-in']
    assert [o.request.camera for o in ManualOpens(sessions, cameras=('gate-out',)).poll(barrier)] == ['gate-out']
    # A claim whose node died before writing the outcome: failed, never re-run.
    with sessions.begin() as s:
        s.add(request_row('gate-in', 'op', when=utc_now() - dt.timedelta(seconds=61)))
    from sqlalchemy import update

    from lpr_recorder.journal import BarrierRequest
    with sessions.begin() as s:
        s.execute(update(BarrierRequest).where(BarrierRequest.state == 'pending').values(state='opening'))
    assert ManualOpens(sessions, expiry_s=30).poll(barrier) == [] and barrier.pulses == 3
    assert request_states(sessions)[-1][1:3] == ('failed', 'outcome unknown: the access node stopped while opening')
    journal.close()


def test_manual_decision_message_has_source_manual():
    from lpr_interfaces.msg import AccessDecision

    from lpr_access.manual import DONE, FAILED, Outcome, Request, utc_now
    from lpr_access.node import manual_decision_msg
    request = Request(7, 'gate-in', 'ev-9', 'AB12CDE', 'visitor', 'op', utc_now())
    msg = manual_decision_msg(Outcome(request, DONE, 'pulsed by driver log', utc_now()),
                              AccessDecision().header.stamp)
    assert (msg.source, msg.decision, msg.plate, msg.event_id, msg.header.frame_id) == (
        AccessDecision.SOURCE_MANUAL, 'open', 'AB12CDE', '', 'gate-in')
    assert msg.reason == 'manual open by op (request 7, event ev-9): visitor'
    failed = manual_decision_msg(Outcome(request, FAILED, 'driver http: refused', utc_now()),
                                 AccessDecision().header.stamp)
    assert failed.reason.endswith('; driver http: refused')


# -- the node ----------------------------------------------------------------------------
def journal_with(tmp_path, *entries: tuple[str, str]) -> str:
    from lpr_recorder.journal import AccessEntry, Journal
    url = f'sqlite:///{tmp_path / "journal.sqlite"}'
    journal = Journal(url)
    with journal._sessions.begin() as s:
        s.add_all(AccessEntry(list_name=kind, plate=plate, created_at=dt.datetime.now(UTC)) for kind, plate in entries)
    journal.close()
    return url


def plate_event(plate: str, stage: int, event_id: str, camera: str = 'gate-in'):
    from lpr_interfaces.msg import PlateEvent
    msg = PlateEvent(event_id=event_id, camera_id=camera, stage=stage)
    ns = time.time_ns()
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
    msg.header.frame_id = camera
    msg.best.text, msg.best.confidence = plate, 0.95
    return msg


def test_node_opens_the_barrier_for_a_preview_of_an_allowed_plate(ros, tmp_path):
    from lpr_interfaces.msg import AccessDecision, PlateEvent

    from lpr_access.node import AccessNode
    from lpr_common import qos
    from lpr_common.node import SUCCESS
    context, executor = ros
    node = make(AccessNode, context, executor, db_url=journal_with(tmp_path, ('allow', 'AB12CDE')))
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    decisions = []
    p.create_subscription(AccessDecision, 'access/decisions', decisions.append, qos.RESULTS)
    pub = p.create_publisher(PlateEvent, 'plates/events', qos.EVENTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0 and node.pub.get_subscription_count() > 0)

    sent_ns = time.time_ns()
    pub.publish(plate_event('AB12CDE', PlateEvent.STAGE_PREVIEW, 'ev-1'))
    assert wait_for(lambda: decisions and node.barrier.pulses == 1), 'no open decision / no pulse'
    print(f'\npreview -> barrier driver: {(node.barrier.last_pulse_ns - sent_ns) / 1e6:.1f} ms')
    d = decisions[0]
    assert (d.decision, d.plate, d.list_name, d.source, d.event_id) == ('open', 'AB12CDE', 'allow', 'preview', 'ev-1')
    assert d.header.frame_id == 'gate-in' and not d.correction

    pub.publish(plate_event('AB12CDE', PlateEvent.STAGE_FINAL, 'ev-1'))     # the same pass, final: no second open
    pub.publish(plate_event('QQ11QQQ', PlateEvent.STAGE_PREVIEW, 'ev-2'))
    assert wait_for(lambda: len(decisions) == 2)
    assert decisions[1].decision == 'review' and node.barrier.pulses == 1
    node.publish_status()
    assert node.status.values['decisions_open'] == 1 and node.status.values['decisions_review'] == 1
    assert node.status.values['last_decision_latency_ms'] < 1000
    node.trigger_deactivate()
    node.destroy_node()


def test_node_reports_a_failing_relay_and_keeps_deciding(ros, tmp_path):
    from lpr_interfaces.msg import AccessDecision, PlateEvent

    from lpr_access.node import AccessNode
    from lpr_common import qos
    from lpr_common.node import ERROR, SUCCESS
    context, executor = ros
    url = journal_with(tmp_path)
    node = make(AccessNode, context, executor, db_url=url, driver='http', reload_s=0.3, http_timeout_s=1.0,
                http_url=f'http://127.0.0.1:{free_port()}/open')
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    # A plate added in the web journal while the node runs applies without a restart.
    from lpr_recorder.journal import AccessEntry, Journal
    journal = Journal(url)
    with journal._sessions.begin() as s:
        s.add(AccessEntry(list_name='allow', plate='AB12CDE', created_at=dt.datetime.now(UTC)))
    journal.close()
    assert wait_for(lambda: len(node.entries) == 1)
    p = probe(context, executor)
    decisions = []
    p.create_subscription(AccessDecision, 'access/decisions', decisions.append, qos.RESULTS)
    pub = p.create_publisher(PlateEvent, 'plates/events', qos.EVENTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0 and node.pub.get_subscription_count() > 0)
    for i in range(2):
        pub.publish(plate_event('AB12CDE', PlateEvent.STAGE_PREVIEW, f'ev-{i}'))
    assert wait_for(lambda: node.barrier.errors == 2 and len(decisions) == 2)
    assert [d.decision for d in decisions] == ['open', 'open']
    assert node.status.level == ERROR and 'barrier driver http failing' in node.status.message
    assert node.lifecycle_state() == 'active'
    node.trigger_deactivate()
    node.destroy_node()


def test_node_executes_a_manual_open_from_the_journal(ros, tmp_path):
    from lpr_interfaces.msg import AccessDecision

    from lpr_access.manual import request_row
    from lpr_access.node import AccessNode
    from lpr_common import qos
    from lpr_common.node import SUCCESS
    from lpr_recorder.journal import Journal
    context, executor = ros
    url = journal_with(tmp_path)
    node = make(AccessNode, context, executor, db_url=url, manual_poll_s=0.1)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    decisions = []
    p.create_subscription(AccessDecision, 'access/decisions', decisions.append, qos.RESULTS)
    assert wait_for(lambda: node.pub.get_subscription_count() > 0)
    journal = Journal(url)
    with journal._sessions.begin() as s:
        s.add(request_row('gate-in', 'op', 'courier'))
    journal.close()
    assert wait_for(lambda: decisions and node.barrier.pulses == 1), 'manual open not executed'
    d = decisions[0]
    assert (d.source, d.decision, d.header.frame_id) == ('manual', 'open', 'gate-in') and 'by op' in d.reason
    node.publish_status()
    assert node.status.values['manual_done'] == 1
    node.trigger_deactivate()
    node.destroy_node()
