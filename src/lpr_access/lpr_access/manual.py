"""Manual opens: an operator's "Open barrier" in the web journal is a row of
``barrier_requests``; the access node takes it from there. Each request is
executed at most once (claimed pending -> opening by one atomic update) and
never late: one older than ``expiry_s`` is marked expired, not executed.
The driver's answer and the time are written back (the audit trail)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select, update

from lpr_recorder.journal import BarrierRequest

PENDING, OPENING, DONE, FAILED, EXPIRED = 'pending', 'opening', 'done', 'failed', 'expired'
STATES = (PENDING, OPENING, DONE, FAILED, EXPIRED)
UTC = dt.timezone.utc


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


@dataclass(frozen=True)
class Request:
    id: int
    camera: str
    event_id: str
    plate: str
    reason: str
    requested_by: str
    requested_at: dt.datetime


@dataclass(frozen=True)
class Outcome:
    request: Request
    state: str            # DONE, FAILED or EXPIRED
    result: str
    handled_at: dt.datetime

    @property
    def pulsed(self) -> bool:
        return self.state == DONE


def request_row(camera: str, by: str, reason: str = '', event_id: str = '', plate: str = '',
                when: dt.datetime | None = None) -> BarrierRequest:
    """A new pending request (what the web journal writes)."""
    return BarrierRequest(camera_id=camera, event_id=event_id, plate=plate, reason=reason, requested_by=by,
                          requested_at=when or utc_now(), state=PENDING)


class ManualOpens:
    """Pending requests for this node's cameras -> pulses, each once, none late.

    ``sessions``: a SQLAlchemy sessionmaker on the journal; ``cameras``: the
    camera ids whose requests this node executes (() = all; a request without
    a camera is taken by any node)."""

    def __init__(self, sessions, expiry_s: float = 30.0, cameras: tuple[str, ...] = (),
                 clock: Callable[[], dt.datetime] = utc_now):
        self._sessions = sessions
        self.expiry = dt.timedelta(seconds=expiry_s)
        self.cameras = tuple(cameras)
        self.clock = clock

    def due(self) -> list[Request]:
        """Expire what is too old, then claim and return the fresh requests.
        Writes to the journal only when a request is waiting."""
        now = self.clock()
        with self._sessions.begin() as s:
            rows = s.scalars(self._mine(select(BarrierRequest).where(BarrierRequest.state.in_((PENDING, OPENING))))
                             .order_by(BarrierRequest.id)).all()
            if not rows:
                return []
            fresh = [_request(r) for r in rows if r.state == PENDING and now - r.requested_at <= self.expiry]
            self._expire(s, now)
            claimed = []
            for request in fresh:
                took = s.execute(update(BarrierRequest).where(BarrierRequest.id == request.id,
                                                              BarrierRequest.state == PENDING)
                                 .values(state=OPENING))
                if took.rowcount == 1:   # another node may have claimed it first
                    claimed.append(request)
        return claimed

    def execute(self, request: Request, barrier) -> Outcome:
        """Pulse for a claimed request (unless it has grown too old meanwhile)
        and record the outcome. Never raises for a driver failure."""
        if self.clock() - request.requested_at > self.expiry:
            outcome = Outcome(request, EXPIRED, self._too_old(), self.clock())
        elif barrier.open():
            outcome = Outcome(request, DONE, f'pulsed by driver {barrier.kind}', self.clock())
        else:
            outcome = Outcome(request, FAILED, f'driver {barrier.kind}: {barrier.last_error}'[:500], self.clock())
        self._record(outcome)
        return outcome

    def poll(self, barrier) -> list[Outcome]:
        """``due`` then ``execute`` each, in this thread (tests, benchmark)."""
        return [self.execute(r, barrier) for r in self.due()]

    # -- the journal ------------------------------------------------------------------
    def _mine(self, stmt):
        if self.cameras:
            stmt = stmt.where(BarrierRequest.camera_id.in_(('',) + self.cameras))
        return stmt

    def _expire(self, s, now: dt.datetime) -> None:
        stale = self._mine(update(BarrierRequest).where(BarrierRequest.state == PENDING,
                                                        BarrierRequest.requested_at < now - self.expiry))
        s.execute(stale.values(state=EXPIRED, result=self._too_old(), handled_at=now))
        # Claimed, but the node stopped before it wrote the outcome: whether it pulsed is unknown.
        lost = self._mine(update(BarrierRequest).where(BarrierRequest.state == OPENING,
                                                       BarrierRequest.requested_at < now - 2 * self.expiry))
        s.execute(lost.values(state=FAILED, result='outcome unknown: the access node stopped while opening',
                              handled_at=now))

    def _record(self, outcome: Outcome) -> None:
        with self._sessions.begin() as s:
            s.execute(update(BarrierRequest).where(BarrierRequest.id == outcome.request.id)
                      .values(state=outcome.state, result=outcome.result, handled_at=outcome.handled_at))

    def _too_old(self) -> str:
        return f'expired: not executed within {self.expiry.total_seconds():g} s of the request'


def _request(row: BarrierRequest) -> Request:
    return Request(row.id, row.camera_id, row.event_id, row.plate, row.reason, row.requested_by, row.requested_at)
