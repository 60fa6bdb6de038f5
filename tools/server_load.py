#!/usr/bin/env python3
"""Load benchmark of lpr-server: N simulated edges against one and two server
processes, on SQLite and on PostgreSQL (two processes share Redis too).

    tools/server_load.py [--edges 4] [--events 200] [--duration 0] [--batch 1]
                         [--setups sqlite:1,sqlite:2,postgresql:1,postgresql:2]

Each edge is its own process: a python-socketio client holding a device token
made by the server's own Store.add_device, sending ``lpr_batch`` messages one at
a time (the bridge's way: the next only after the acknowledgement) with one
JPEG-sized attachment per event. Two server processes listen on two ports and
the edges are split between them (no load balancer). Everything runs on
127.0.0.1: the tool starts its own PostgreSQL (initdb/pg_ctl) and redis-server.
Reports events/s sustained (acknowledged events over the wall time from the
first send to the last acknowledgement) and the p50/p95 acknowledgement latency
of a message, and checks the database holds each acknowledged event once.
"""
from __future__ import annotations

import argparse
import glob
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

HOST = '127.0.0.1'


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'{what} exited with {proc.returncode}')
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'{what} did not start on port {port}')


# infrastructure: PostgreSQL, Redis, server processes --------------------------------

def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f'/usr/lib/postgresql/*/bin/{name}')) or [shutil.which(name)]
    return found[-1] if found and found[-1] else None


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: use the distribution's postgres user then.
    return ['runuser', '-u', 'postgres', '--'] + cmd if os.geteuid() == 0 else cmd


@contextmanager
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1; yields its base URL (no database)."""
    initdb, pg_ctl = _pg_bin('initdb'), _pg_bin('pg_ctl')
    if not initdb or not pg_ctl:
        raise SystemExit('PostgreSQL server binaries not found (apt install postgresql)')
    base = Path(tempfile.mkdtemp(prefix='lpr-load-pg-'))   # not private to root: the server runs as postgres
    data = base / 'data'
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, 'postgres')
        shutil.chown(data, 'postgres')
    port = free_port()
    subprocess.run(_as_postgres([initdb, '-D', str(data), '-A', 'trust', '-U', 'lpr']), check=True,
                   capture_output=True)
    subprocess.run(_as_postgres([pg_ctl, '-D', str(data), '-o', f'-h {HOST} -p {port} -k {data}', '-w',
                                 '-l', str(data / 'log'), 'start']), check=True, capture_output=True)
    try:
        yield f'postgresql+psycopg://lpr@{HOST}:{port}'
    finally:
        subprocess.run(_as_postgres([pg_ctl, '-D', str(data), '-m', 'fast', '-w', 'stop']), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    engine = create_engine(f'{base_url}/postgres', isolation_level='AUTOCOMMIT')
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE {name}'))
    engine.dispose()
    return f'{base_url}/{name}'


@contextmanager
def redis_server(workdir: Path):
    binary = shutil.which('redis-server')
    if not binary:
        raise SystemExit('redis-server not found (apt install redis-server)')
    port = free_port()
    proc = subprocess.Popen([binary, '--port', str(port), '--bind', HOST, '--save', '', '--appendonly', 'no',
                             '--dir', str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, 'redis-server')
        yield f'redis://{HOST}:{port}/0'
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def server_process(data_dir: Path, db_url: str, image_dir: Path, redis_url: str):
    """``lpr-server serve`` in a subprocess on 127.0.0.1; yields its URL."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, '-m', 'lpr_server', 'serve', '--host', HOST, '--port', str(port),
            '--data-dir', str(data_dir), '--db-url', db_url, '--image-dir', str(image_dir),
            '--log-level', 'warning'] + (['--redis-url', redis_url] if redis_url else [])
    with open(data_dir / 'server.log', 'ab') as log:    # a file: a full pipe would stall the server
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, 'lpr-server')
        yield f'http://{HOST}:{port}'
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# one simulated edge (its own process) ----------------------------------------------

@dataclass
class EdgeResult:
    name: str
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    retries: int = 0          # messages answered retry: true (store busy), sent again
    latencies_s: list = None
    started: float = 0.0      # wall clock (time.time), comparable across processes
    finished: float = 0.0
    error: str = ''


def make_event(image: bytes) -> dict:
    now = datetime.now(timezone.utc).isoformat(timespec='milliseconds')
    return {'event_id': str(uuid.uuid4()), 'camera_id': 'cam0', 'plate': 'LD' + uuid.uuid4().hex[:6].upper(),
            'confidence': 0.9, 'first_seen': now, 'last_seen': now, 'best_seen': now, 'images': {'frame': image}}


def send_until_acknowledged(client, batch: list[dict], result: EdgeResult) -> None:
    while True:
        sent = time.perf_counter()
        answer = client.call('lpr_batch', batch, timeout=120)
        if answer.get('status') == 'success':
            result.latencies_s.append(time.perf_counter() - sent)
            for item in answer['results']:
                setattr(result, item['status'], getattr(result, item['status']) + 1)
            return
        if not answer.get('retry'):
            raise RuntimeError(f'batch refused: {answer}')
        result.retries += 1
        time.sleep(0.2)                       # the bridge backs off too


def run_edge(name: str, url: str, token: str, options: dict, start, results) -> None:
    import socketio
    result = EdgeResult(name, latencies_s=[])
    image = b'\xff\xd8\xff\xe0' + os.urandom(max(0, options['image_bytes'] - 4))
    client = socketio.Client(reconnection=False)
    try:
        client.connect(url, auth={'token': token}, wait_timeout=30, retry=False)
        results.put(('ready', name))
        start.wait()
        result.started = time.time()
        deadline = time.monotonic() + options['duration'] if options['duration'] else float('inf')
        sent = 0
        while (not options['events'] or sent < options['events']) and time.monotonic() < deadline:
            size = min(options['batch'], options['events'] - sent) if options['events'] else options['batch']
            send_until_acknowledged(client, [make_event(image) for _ in range(size)], result)
            sent += size
        result.finished = time.time()
    except Exception as exc:  # noqa: BLE001 - reported with the figures
        result.error = f'{type(exc).__name__}: {exc}'
        results.put(('ready', name))          # never leave the parent waiting
    finally:
        client.disconnect()
    results.put(('done', asdict(result)))


# one setup: a database, P server processes, N edges --------------------------------

@dataclass
class SetupResult:
    setup: str
    edges: int
    acknowledged: int
    in_database: int
    seconds: float
    events_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    retries: int
    errors: list


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float('nan')
    return statistics.quantiles(values, n=100, method='inclusive')[int(q) - 1]


def add_devices(db_url: str, image_dir: Path, count: int) -> dict[str, str]:
    from lpr_server.store import Store
    store = Store(db_url, image_dir)          # also migrates, before any server starts
    try:
        return {f'edge{i:02d}': store.add_device(f'edge{i:02d}') for i in range(count)}
    finally:
        store.close()


def count_events(db_url: str, image_dir: Path) -> int:
    from lpr_server.store import Store
    store = Store(db_url, image_dir)
    try:
        return store.count()
    finally:
        store.close()


def drive_edges(urls: list[str], tokens: dict[str, str], options: dict) -> list[dict]:
    ctx = mp.get_context('spawn')
    start, results = ctx.Event(), ctx.Queue()
    edges = [ctx.Process(target=run_edge, args=(name, urls[i % len(urls)], token, options, start, results))
             for i, (name, token) in enumerate(tokens.items())]
    for p in edges:
        p.start()
    for _ in edges:
        results.get(timeout=120)              # every edge connected (or failed)
    start.set()
    done = [results.get(timeout=options['timeout'])[1] for _ in edges]
    for p in edges:
        p.join(30)
    return done


def summarise(setup: str, done: list[dict], in_database: int) -> SetupResult:
    ok = [d for d in done if not d['error']]
    latencies = sorted(x for d in ok for x in d['latencies_s'])
    acknowledged = sum(d['stored'] + d['duplicate'] for d in ok)
    seconds = (max(d['finished'] for d in ok) - min(d['started'] for d in ok)) if ok else float('nan')
    return SetupResult(setup, len(done), acknowledged, in_database, round(seconds, 2),
                       round(acknowledged / seconds, 1) if ok else 0.0,
                       round(percentile(latencies, 50) * 1000, 1), round(percentile(latencies, 95) * 1000, 1),
                       round(latencies[-1] * 1000, 1) if latencies else float('nan'),
                       sum(d['retries'] for d in ok), [f"{d['name']}: {d['error']}" for d in done if d['error']])


def run_setup(setup: str, options: dict, work: Path, infra: dict) -> SetupResult:
    engine, processes = setup.split(':')
    base = work / setup.replace(':', '-')
    image_dir = base / 'images'
    if engine == 'sqlite':
        db_url = f'sqlite:///{base / "server.sqlite"}'
    else:
        db_url = create_database(infra['postgresql'], f'load_{len(infra["databases"])}')
        infra['databases'].append(db_url)
    redis_url = infra.get('redis', '') if int(processes) > 1 else ''
    tokens = add_devices(db_url, image_dir, options['edges'])
    with ExitStack() as stack:
        urls = [stack.enter_context(server_process(base / f'server{k}', db_url, image_dir, redis_url))
                for k in range(int(processes))]
        done = drive_edges(urls, tokens, options)
    return summarise(f'{engine} x{processes}' + (' +redis' if redis_url else ''), done,
                     count_events(db_url, image_dir))


def print_table(results: list[SetupResult]) -> None:
    print('| setup | edges | events acked | in database | seconds | events/s | p50 ms | p95 ms | max ms | retries |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in results:
        print(f'| {r.setup} | {r.edges} | {r.acknowledged} | {r.in_database} | {r.seconds} | {r.events_per_s} '
              f'| {r.p50_ms} | {r.p95_ms} | {r.max_ms} | {r.retries} |')
        for error in r.errors:
            print(f'  error: {error}')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--edges', type=int, default=4, help='simulated edge processes (default 4)')
    p.add_argument('--events', type=int, default=200, help='events per edge; 0: until --duration (default 200)')
    p.add_argument('--duration', type=float, default=0.0, help='stop each edge after this many seconds (0: no limit)')
    p.add_argument('--batch', type=int, default=1, help='events per lpr_batch message (default 1)')
    p.add_argument('--image-bytes', type=int, default=20_000, help='JPEG attachment per event (default 20000)')
    p.add_argument('--setups', default='sqlite:1,sqlite:2,postgresql:1,postgresql:2',
                   help='comma-separated engine:processes (default: all four)')
    p.add_argument('--no-redis', action='store_true', help='two processes without Redis')
    p.add_argument('--json', type=Path, help='also write the figures here')
    args = p.parse_args(argv)
    if not args.events and not args.duration:
        p.error('give --events or --duration')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    setups = [s.strip() for s in args.setups.split(',') if s.strip()]
    options = {'events': args.events, 'duration': args.duration, 'batch': args.batch,
               'image_bytes': args.image_bytes, 'edges': args.edges,
               'timeout': max(600.0, args.duration * 3)}
    results = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix='lpr-load-')))
        infra: dict = {'databases': []}
        if any(s.startswith('postgresql') for s in setups):
            infra['postgresql'] = stack.enter_context(postgres())
        if not args.no_redis and any(not s.endswith(':1') for s in setups):
            infra['redis'] = stack.enter_context(redis_server(work))
        for setup in setups:
            print(f'running {setup} ...', file=sys.stderr, flush=True)
            results.append(run_setup(setup, options, work, infra))
    print(f'{args.edges} edges x {args.events or "unlimited"} events, batch {args.batch}, '
          f'{args.image_bytes} B image, duration {args.duration or "-"} s, {os.cpu_count()} CPUs')
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(not r.errors and r.in_database == r.acknowledged for r in results) else 1


if __name__ == '__main__':
    raise SystemExit(main())
