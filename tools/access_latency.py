#!/usr/bin/env python3
"""Latency benchmark of the access core: how long from the read that makes a
preview to the barrier driver's pulse, and from an operator's "Open barrier"
commit to the pulse. Pure Python, no ROS graph, a real journal on disk.

    tools/access_latency.py [--passes 200] [--entries 500] [--manual 40] [--poll-s 0.5] [--keep DIR]

1. preview -> pulse: the recorder's PassAggregator takes the reads of a pass;
   the clock starts before the read that completes the preview and stops when
   the driver's ``open()`` returned: the preview, the Decider against the
   access lists read from the journal (as the node holds them), the driver.
   Driver ``log`` and driver ``http`` (a relay on 127.0.0.1, one request per
   pulse). The lists' re-read (the node's timer, off this path) is timed apart.
2. manual: the web journal's ``WebStore.request_open`` commits a request; a
   thread polls ``ManualOpens`` every ``--poll-s`` as the node's timer does;
   the clock runs from the commit to the pulse (the poll period dominates).

What it leaves out: the DDS hop of plates/events between the recorder and
the access node (``tests/test_access.py`` prints it for one preview in one
process) and the relay's own switching time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.server
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from lpr_access.barrier import make_barrier
from lpr_access.decide import Decider, Sighting
from lpr_access.lists import Entry, load_entries
from lpr_access.manual import ManualOpens
from lpr_recorder.journal import sqlite_url
from lpr_recorder.passes import Observation, PassAggregator, PassConfig
from lpr_web.store import WebStore

PLATE = 'AB12CDE'


def relay() -> tuple[http.server.ThreadingHTTPServer, str]:
    """A relay on 127.0.0.1 answering 200 to every request."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f'http://127.0.0.1:{server.server_port}/open'


def preview_to_pulse(store: WebStore, barrier, passes: int) -> list[float]:
    """Milliseconds from the preview-completing read to the driver's return, per pass."""
    sessions = sessionmaker(store.journal.engine)
    with sessions() as s:
        entries = load_entries(s)
    config = PassConfig()
    aggregator, decider = PassAggregator(config), Decider()
    stamp_ns, times = time.time_ns(), []
    for i in range(passes):
        stamp_ns += 60 * 10**9                                  # a new vehicle each minute
        camera = f'gate-{i}'                                     # never joins an earlier pass
        for k in range(config.preview_reads):
            read = Observation(camera, stamp_ns + k * 10**8, PLATE, 0.95, (10, 20, 100, 30))
            start = time.perf_counter()
            previews = [d for d in aggregator.add(read) if d.stage == 'preview']
            if not previews:
                continue
            (p,) = previews
            when = dt.datetime.fromtimestamp(p.best.stamp_ns / 1e9, dt.timezone.utc)
            decision = decider.decide(Sighting(p.event_id, p.camera_id, p.text, when, 'preview'), entries)
            if decision is not None and decision.pulse:
                barrier.open()
            times.append((time.perf_counter() - start) * 1000.0)
        aggregator.flush()
    if barrier.errors or len(times) != passes:
        raise SystemExit(f'error: {barrier.errors} driver errors, {len(times)} previews of {passes} passes')
    return times


def reload_ms(store: WebStore, rounds: int = 50) -> list[float]:
    sessions, times = sessionmaker(store.journal.engine), []
    for _ in range(rounds):
        start = time.perf_counter()
        with sessions() as s:
            load_entries(s)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def manual_to_pulse(store: WebStore, barrier, requests: int, poll_s: float) -> list[float]:
    """Milliseconds from the request's commit to the pulse, the core polled every ``poll_s``."""
    opens = ManualOpens(sessionmaker(store.journal.engine, expire_on_commit=False), expiry_s=30)
    committed: dict[int, float] = {}
    times: list[float] = []
    stop = threading.Event()

    def poll() -> None:   # the node's timer: due() in its thread, execute() in the worker (here: inline)
        while not stop.wait(poll_s):
            for outcome in opens.poll(barrier):
                times.append((time.perf_counter() - committed[outcome.request.id]) * 1000.0)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    for i in range(requests):
        time.sleep(poll_s * (0.37 + 0.61 * ((i * 7919) % 13) / 13))   # commits at spread phases of the poll
        start = time.perf_counter()
        row = store.request_open('bench', 'gate-in', f'request {i}')
        committed[row.id] = start
    deadline = time.monotonic() + 5 * poll_s + 5
    while len(times) < requests and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join()
    if len(times) != requests:
        raise SystemExit(f'error: {len(times)} of {requests} manual opens executed')
    return times


def summary(name: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f'{name:<34} n={len(ms):<4} median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms   '
            f'max {max(ms):8.2f} ms')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--passes', type=int, default=200, help='vehicle passes per driver (default: %(default)s)')
    ap.add_argument('--entries', type=int, default=500, help='access list entries (default: %(default)s)')
    ap.add_argument('--manual', type=int, default=40, help='manual opens (default: %(default)s)')
    ap.add_argument('--poll-s', type=float, default=0.5, help='manual poll period, as manual_poll_s')
    ap.add_argument('--keep', default='', help='journal directory to use (default: a temporary one)')
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        store = WebStore(sqlite_url(base / 'journal.sqlite'), base / 'images')
        others = [Entry('deny', f'ZZ{i:05d}') for i in range(max(0, args.entries - 1))]
        store.add_entries([Entry('allow', PLATE)] + others, 'bench')
        server, url = relay()
        quiet = lambda _: None  # noqa: E731
        print(f'journal {store.journal.url}: {len(others) + 1} list entries, relay {url}', file=sys.stderr)
        print(summary('lists re-read (node timer)', reload_ms(store)))
        for driver in ('log', 'http'):
            barrier = make_barrier(driver, 1.0, quiet, http_url=url)
            print(summary(f'preview -> pulse, driver {driver}', preview_to_pulse(store, barrier, args.passes)))
        barrier = make_barrier('http', 1.0, quiet, http_url=url)
        print(summary(f'manual commit -> pulse, poll {args.poll_s:g} s',
                      manual_to_pulse(store, barrier, args.manual, args.poll_s)))
        server.shutdown()
        store.close()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
