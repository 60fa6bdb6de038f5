"""The bridge's background loop: upload, heartbeat, back off on failure, wait for work."""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from typing import Callable

from lpr_bridge.uploader import TransportError, Uploader
from lpr_recorder.health_rows import SUMMARY_BUDGET, HealthRow, summary

log = logging.getLogger(__name__)


def backoff(delay: float, rng: random.Random = random) -> float:
    """The wait before the next try: ``delay`` less a random part of up to half
    of it, so edges that lost the server together do not all return at once."""
    return rng.uniform(delay / 2, delay)


HEARTBEAT_LIMIT = 4096    # the server refuses a larger heartbeat (lpr_server.protocol)
HEARTBEAT_TARGET = 3584   # what the bridge aims at: well under the limit


def heartbeat_size(payload: dict) -> int:
    """The heartbeat's size as the server measures it (json.dumps, default separators)."""
    return len(json.dumps(payload, allow_nan=False))


def heartbeat_payload(status: dict, rows: list[HealthRow] | None, target: int = HEARTBEAT_TARGET) -> dict:
    """The queue status, plus the graph's health summary (``health``) sized to
    what ``target`` leaves; without it when even a small one does not fit."""
    payload = dict(status)
    if rows is None:
        return payload
    budget = min(SUMMARY_BUDGET, target - heartbeat_size(status) - 16)
    while budget >= 200:   # the summary counts compact JSON; the server's is a little larger
        payload['health'] = summary(rows, budget=budget)
        if heartbeat_size(payload) <= target:
            return payload
        budget = int(budget * 0.85)
    payload.pop('health', None)
    return payload


class SenderLoop:
    def __init__(self, uploader: Uploader, poll_s: float, retry_initial_s: float, retry_max_s: float,
                 on_state: Callable[[str, str], None] = lambda state, detail: None, heartbeat_s: float = 30.0,
                 health: Callable[[], list[HealthRow]] | None = None):
        self.uploader = uploader
        self.health = health   # the newest status of each node, for the heartbeat (None: not sent)
        self.poll_s = poll_s
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.heartbeat_s = heartbeat_s
        self.on_state = on_state
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='bridge-sender', daemon=True)
        self._last_heartbeat = float('-inf')
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_s:
            self._last_heartbeat = time.monotonic()
            rows = self.health() if self.health is not None else None
            self.uploader.transport.heartbeat(heartbeat_payload(self.uploader.status(), rows))

    def _run(self) -> None:
        delay = self.retry_initial_s
        while not self._stop.is_set():
            try:
                self.uploader.run_once()
                self._heartbeat()
                self.failures, delay = 0, self.retry_initial_s
                self.on_state('connected', '')
                wait = self.poll_s
            except TransportError as exc:
                self.failures += 1
                wait, delay = backoff(delay), min(delay * 2, self.retry_max_s)
                self.on_state('retrying', f'{exc}; retry in {wait:.1f} s')
            except Exception as exc:  # noqa: BLE001 - e.g. the journal is locked: retry too
                self.failures += 1
                self.uploader.last_error = f'{type(exc).__name__}: {exc}'
                wait, delay = backoff(delay), min(delay * 2, self.retry_max_s)
                self.on_state('error', self.uploader.last_error)
            self._wake.wait(wait)
            self._wake.clear()
