"""Access node: plates/events -> access/decisions, and the barrier pulsed on open."""
from __future__ import annotations

import datetime as dt
import time

from lpr_interfaces.msg import AccessDecision, PlateEvent
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from lpr_access.barrier import Barrier, make_barrier
from lpr_access.config import AccessConfig
from lpr_access.decide import FINAL, OPEN, PREVIEW, Decider, Decision, Sighting
from lpr_access.lists import load_entries, parse_cameras
from lpr_access.manual import DONE, EXPIRED, ManualOpens, Outcome, Request
from lpr_common import topics
from lpr_common.node import ERROR, OK, LprNode, run_node
from lpr_common.worker import Worker
from lpr_recorder.journal import Journal, resolve_url


class AccessNode(LprNode):
    config_class = AccessConfig

    def __init__(self, name: str = 'access', **kwargs):
        super().__init__(name, **kwargs)
        self.journal: Journal | None = None
        self.barrier: Barrier | None = None
        self.decider: Decider | None = None
        self.entries: list = []
        self.worker: Worker | None = None
        self.manual: ManualOpens | None = None
        self._sub = self._timer = self._manual_timer = None
        self.last_latency_ms: float | None = None   # event arrival -> barrier driver called

    def configure(self, config: AccessConfig) -> None:
        self.journal = Journal(resolve_url(config.db_url))
        self._sessions = sessionmaker(self.journal.engine)
        self.decider = Decider(config.unknown, config.tolerance())
        self.manual = ManualOpens(self._sessions, config.manual_expiry_s, parse_cameras(config.manual_cameras))
        self.barrier = make_barrier(config.driver, config.pulse_s, self.get_logger().info,
                                    http_url=config.http_url, http_method=config.http_method,
                                    http_timeout_s=config.http_timeout_s, gpio_pin=config.gpio_pin,
                                    gpio_active_high=config.gpio_active_high, fail_safe=config.fail_safe)
        self.reload()
        self.pub = self.create_lifecycle_publisher(AccessDecision, topics.DECISIONS.name, topics.DECISIONS.qos)
        self.get_logger().info(f'access lists from {self.journal.url} ({len(self.entries)} entries), '
                               f'barrier driver {self.barrier.kind}')

    def activate(self) -> None:
        # The driver may wait on a slow relay: never in the executor's thread.
        self.worker = Worker(self._pulse, 'barrier', maxsize=8, on_error=self.worker_error('barrier'))
        self._sub = self.create_subscription(PlateEvent, topics.EVENTS.name, self._on_event, topics.EVENTS.qos)
        self._timer = self.create_timer(self.config.reload_s, self.reload)
        self._manual_timer = self.create_timer(self.config.manual_poll_s, self.poll_manual)
        self._report_driver()

    def deactivate(self) -> None:
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self.destroy_timer(self._timer)
            self.destroy_timer(self._manual_timer)
            self._sub = self._timer = self._manual_timer = None
        if self.worker is not None:
            self.worker.stop(drain=True, timeout=self.config.http_timeout_s + 1.0)
            self.worker = None
        if self.barrier is not None:
            self.barrier.stop()

    def release(self) -> None:
        if self.barrier is not None:
            self.barrier.stop()
            self.barrier.close()
            self.barrier = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # -- flow -----------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the lists; on a failure the previous ones stay in force."""
        try:
            with self._sessions() as s:
                self.entries = load_entries(s)
        except SQLAlchemyError as exc:
            self.status.count('list_read_errors')
            self.get_logger().warning(f'access lists not re-read, the previous ones stay: {exc}',
                                      throttle_duration_sec=60.0)

    def poll_manual(self) -> None:
        """Claim the operators' manual opens; the worker pulses (a relay may be slow)."""
        try:
            due = self.manual.due()
        except SQLAlchemyError as exc:
            self.status.count('manual_read_errors')
            self.get_logger().warning(f'manual opens not read: {exc}', throttle_duration_sec=60.0)
            return
        for request in due:
            self.worker.submit((request, time.monotonic()))

    def _on_event(self, msg: PlateEvent) -> None:
        arrived = time.monotonic()
        decision = self.decider.decide(_sighting(msg), self.entries)
        if decision is None:
            return
        self.status.count(f'decisions_{decision.decision}')
        if decision.correction:
            self.status.count('corrections')
            self.get_logger().warning(f'event {decision.event_id} {decision.plate}: {decision.reason}')
        else:
            self.get_logger().info(f'{decision.decision} {decision.plate} at {decision.camera}: {decision.reason}')
        if decision.pulse:
            self.worker.submit((decision, arrived))
        self.pub.publish(to_decision_msg(decision, self.get_clock().now().to_msg()))

    def _pulse(self, item: tuple[Decision | Request, float]) -> None:
        decision, arrived = item
        if isinstance(decision, Request):
            self._open_manually(decision)
            return
        self.barrier.open()
        self.last_latency_ms = (time.monotonic() - arrived) * 1000.0
        self._report_driver()

    def _open_manually(self, request: Request) -> None:
        outcome = self.manual.execute(request, self.barrier)   # an expired one is not pulsed
        self.status.count(f'manual_{outcome.state}')
        who = f'manual open #{request.id} by {request.requested_by}'
        if outcome.state == DONE:
            self.get_logger().info(f'{who}: {outcome.result}')
        else:
            self.get_logger().warning(f'{who}: {outcome.result}')
        self._report_driver()
        if outcome.state != EXPIRED:
            self.pub.publish(manual_decision_msg(outcome, self.get_clock().now().to_msg()))

    def _report_driver(self) -> None:
        if self.barrier.healthy:
            if self.status.level == ERROR:
                self.status.set(OK, 'active')
            return
        self.status.set(ERROR, f'barrier driver {self.barrier.kind} failing: {self.barrier.last_error}')
        self.get_logger().error(self.status.message, throttle_duration_sec=10.0)

    def fill_status(self, status) -> None:
        status.values.update(entries=len(self.entries))
        if self.barrier is not None:
            status.values.update(driver=self.barrier.kind, pulses=self.barrier.pulses,
                                 driver_errors=self.barrier.errors)
        if self.last_latency_ms is not None:
            status.values['last_decision_latency_ms'] = self.last_latency_ms


def _sighting(msg: PlateEvent) -> Sighting:
    ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    when = dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc) if ns else dt.datetime.now(dt.timezone.utc)
    source = FINAL if msg.stage == PlateEvent.STAGE_FINAL else PREVIEW
    return Sighting(msg.event_id, msg.camera_id or msg.header.frame_id, msg.best.text, when, source)


def to_decision_msg(d: Decision, stamp) -> AccessDecision:
    msg = AccessDecision(event_id=d.event_id, plate=d.plate, decision=d.decision, list_name=d.list_name,
                         entry_plate=d.entry_plate, distance=min(d.distance, 255), reason=d.reason,
                         source=d.source, correction=d.correction)
    msg.header.stamp = stamp
    msg.header.frame_id = d.camera
    return msg


def manual_decision_msg(outcome: Outcome, stamp) -> AccessDecision:
    """An operator's open as a decision (source manual; the event id, when the
    open came from an event page, is in the reason: event_id stays "" for manual)."""
    r = outcome.request
    reason = f'manual open by {r.requested_by} (request {r.id}'
    reason += f', event {r.event_id})' if r.event_id else ')'
    reason += f': {r.reason}' if r.reason else ''
    reason += '' if outcome.state == DONE else f'; {outcome.result}'
    msg = AccessDecision(event_id='', plate=r.plate, decision=OPEN, reason=reason[:500],
                         source=AccessDecision.SOURCE_MANUAL)
    msg.header.stamp = stamp
    msg.header.frame_id = r.camera
    return msg


def main(args=None) -> int:
    return run_node(AccessNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
