"""A worker thread fed by a bounded queue that drops the oldest item.

Callbacks stay thin: they hand the message to the worker and return. When
the worker falls behind, the oldest waiting item is dropped (for frames:
latest wins) and counted, so the executor never blocks on heavy work.
Where nothing may be dropped (decided events), ``on_full`` takes the item
that does not fit instead (the recorder spools it to disk).

With ``key`` (e.g. the camera of a frame) each key has its own bounded queue
and the worker takes the keys in turn, so a busy camera cannot starve a quiet
one: each camera's newest frame waits its turn, not behind another's.
"""
from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, handle: Callable[[Any], None], name: str, maxsize: int = 1,
                 on_error: Callable[[BaseException], None] | None = None,
                 on_full: Callable[[Any], bool] | None = None,
                 key: Callable[[Any], Any] | None = None):
        if maxsize < 1:
            raise ValueError('maxsize must be >= 1')
        self._handle = handle
        self._on_error = on_error or (lambda exc: log.exception('worker %s failed', name))
        self._on_full = on_full   # takes an item the full queue has no room for; False = drop the oldest
        self._key = key or (lambda item: None)
        # One queue per key, in turn order: the key served last moves to the end.
        self._queues: collections.OrderedDict[Any, collections.deque] = collections.OrderedDict()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self.submitted = 0
        self.dropped = 0
        self.handled = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> None:
        key = self._key(item)
        with self._cond:
            if self._stopping:
                return
            self.submitted += 1
            full = len(self._queues.get(key, ())) >= self._maxsize
        if full and self._on_full is not None and self._on_full(item):
            return
        with self._cond:
            queue = self._queues.setdefault(key, collections.deque())
            if len(queue) >= self._maxsize:
                queue.popleft()
                self.dropped += 1
            queue.append(item)
            self._cond.notify()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty and nothing is being handled."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.pending and not self._busy, timeout)

    def stop(self, drain: bool = True, timeout: float = 10.0) -> list[Any]:
        """Stop the thread; returns the items still waiting (not handled)."""
        if drain:
            self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            left = [item for queue in self._queues.values() for item in queue]
            self._queues.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return left

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def _take(self) -> Any:
        """The oldest item of the first key in turn that has one; that key goes last."""
        for key, queue in self._queues.items():
            if queue:
                self._queues.move_to_end(key)
                return queue.popleft()
        raise LookupError('no item waiting')

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self.pending or self._stopping)
                if self._stopping:
                    return
                item = self._take()
                self._busy = True
            try:
                self._handle(item)
                self.handled += 1
            except BaseException as exc:  # noqa: BLE001 - one bad item must not kill the worker
                self.failed += 1
                try:
                    self._on_error(exc)
                except Exception:  # noqa: BLE001
                    log.exception('error handler failed')
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
