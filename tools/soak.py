#!/usr/bin/env python3
"""Soak test: the whole edge against a real central server, under faults, for a long time.

    python tools/soak.py --minutes 30

The graph runs on the synthetic scene, looping; the bridge uploads to an
``lpr-server`` on 127.0.0.1 that is SIGKILLed and started again every few
minutes; once, the edge's data partition (a small tmpfs when this process may
mount one) is filled to the last byte for a minute and then freed; once a
minute a poison event is injected (a plate text the recorder takes but the
server refuses). At the end, with the server up, the edge drains, and the run
checks: every event the edge committed is on the server exactly once, none is
stuck, the dead letters are the poison events with the server's reason, and
it reports each node's RSS and the shared memory at the start and the end.
Exit status 0 only when the checks hold.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

POISON = 'SOAK<{}>'   # the recorder takes printable text; the server wants letters, digits, spaces, hyphens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    """lpr-server in a subprocess on 127.0.0.1 (so it can be SIGKILLed)."""

    def __init__(self, data_dir: Path):
        self.data_dir, self.port, self.proc = data_dir, free_port(), None
        self.url = f'http://127.0.0.1:{self.port}'

    def add_device(self, name: str) -> str:
        out = subprocess.run([sys.executable, '-m', 'lpr_server', 'device', 'add', name, '--data-dir',
                              str(self.data_dir)], capture_output=True, text=True, check=True).stdout
        return out.split()[0]

    def start(self) -> None:
        log = open(self.data_dir / 'server.log', 'ab')
        self.proc = subprocess.Popen([sys.executable, '-m', 'lpr_server', 'serve', '--data-dir', str(self.data_dir),
                                      '--port', str(self.port), '--log-level', 'warning'],
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('lpr-server did not start')

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


def mount_tmpfs(path: Path, size_mb: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size_mb}m', 'tmpfs', str(path)],
                          capture_output=True).returncode == 0


def fill(path: Path) -> Path:
    """Write a file until the partition is full; returns it (delete it to free the space)."""
    filler = path / 'soak-filler.bin'
    block = b'\0' * (1 << 20)
    with open(filler, 'wb') as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    return filler


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Poisoner:
    """Publishes a poison pass (three reads of one refused plate text) on plates/reads."""

    def __init__(self, namespace: str, env: dict):
        from lpr.background import ros_context
        import rclpy
        from lpr_interfaces.msg import PlateReadArray
        from lpr_common import topics
        self.context = ros_context(env)
        self.node = rclpy.create_node('soak_poisoner', namespace=namespace, context=self.context)
        self.pub = self.node.create_publisher(PlateReadArray, topics.READS.name, topics.READS.qos)
        self.sent: list[str] = []

    def send(self, index: int) -> None:
        from lpr_interfaces.msg import PlateRead, PlateReadArray
        text = POISON.format(index)
        for _ in range(3):
            msg = PlateReadArray()
            msg.header.frame_id = 'cam0'
            ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
            read = PlateRead(text=text, confidence=0.95)
            read.detection.box.x, read.detection.box.width = 5.0, 120.0
            msg.reads = [read]
            self.pub.publish(msg)
            time.sleep(0.1)
        self.sent.append(text)

    def close(self) -> None:
        import rclpy
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--minutes', type=float, default=30.0)
    ap.add_argument('--server-period', type=float, default=240.0, help='seconds between server kills')
    ap.add_argument('--server-down', type=float, default=30.0, help='seconds the server stays down')
    ap.add_argument('--disk-mb', type=int, default=96, help='size of the edge tmpfs')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--keep', action='store_true')
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix='lpr-soak-'))
    edge = work / 'edge'
    mounted = mount_tmpfs(edge, args.disk_mb)
    print(f'soak: {args.minutes:g} min in {work}; edge data on '
          f'{"a " + str(args.disk_mb) + " MB tmpfs" if mounted else "the host disk (no mount: the disk-full phase is skipped)"}',
          flush=True)
    server = Server(work / 'server')
    server.data_dir.mkdir(parents=True)
    token = server.add_device('soak-edge')
    server.start()
    try:
        result = _run(args, rng, work, edge, mounted, server, token)
    finally:
        server.stop()
        if mounted:
            subprocess.run(['umount', str(edge)], capture_output=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _run(args, rng, work: Path, edge: Path, mounted: bool, server: Server, token: str) -> int:
    from lpr import graph, shm
    from lpr.runner import GraphRunner, RunOptions
    params = yaml.safe_load(graph.default_params_file().read_text()) or {}
    params.setdefault('/**/camera', {}).setdefault('ros__parameters', {}).update(loop=True, synthetic_cars=5)
    params.setdefault('/**/bridge', {}).setdefault('ros__parameters', {}).update(allow_insecure=True)
    params_file = work / 'soak.params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    namespace = f'soak{os.getpid()}'
    options = RunOptions(params_file=params_file, namespace=namespace, source='synthetic:1', data_dir=str(edge),
                         server_url=server.url, log_level='error', respawn=5,
                         extra_env={'LPR_DEVICE_TOKEN': token})
    runner = GraphRunner(options)
    log = []

    def say(text: str) -> None:
        line = f'[{time.strftime("%H:%M:%S")}] {text}'
        log.append(line)
        print(line, flush=True)

    shm_start = sum((shm.SHM_DIR / n).stat().st_size for n in shm.segment_names()) / 1e6
    runner.start()
    figures: dict = {}
    done = threading.Event()
    thread = threading.Thread(target=_schedule, args=(args, rng, runner, server, edge, mounted, namespace,
                                                      figures, say, done), daemon=True)
    thread.start()
    code = runner.wait()
    done.set()
    thread.join(30)
    figures['shm_mb'] = (shm_start, sum((shm.SHM_DIR / n).stat().st_size for n in shm.segment_names()) / 1e6)
    return _check(edge, server, figures, code, say)


def _schedule(args, rng, runner, server, edge, mounted, namespace, figures, say, done) -> None:
    """The faults, on a timeline; ends by draining with the server up, then stops the graph."""
    try:
        deadline = time.monotonic() + args.minutes * 60
        while not (runner.running()):
            time.sleep(0.5)
        say('graph active')
        poisoner = Poisoner(namespace, runner.environment())
        start = time.monotonic()
        next_kill = start + args.server_period
        next_poison = start + 30
        disk_at = start + args.minutes * 60 * 0.4 if mounted else None
        rss_taken = False
        while time.monotonic() < deadline and not done.is_set():
            now = time.monotonic()
            if not rss_taken and now - start > 120:
                figures['rss_start'] = {c.spec.name: rss_mb(c.process.pid) for c in runner.children if c.exit_code is None}
                rss_taken = True
            if now >= next_poison:
                poisoner.send(len(poisoner.sent))
                next_poison = now + 60
            if now >= next_kill:
                server.kill()
                say(f'server killed; down for {args.server_down:.0f} s')
                time.sleep(args.server_down)
                server.start()
                say('server up again')
                next_kill = time.monotonic() + args.server_period * rng.uniform(0.8, 1.2)
            if disk_at is not None and now >= disk_at:
                filler = fill(edge)
                say(f'edge disk full ({filler.stat().st_size / 1e6:.0f} MB filler); freeing it in 60 s')
                time.sleep(60)
                filler.unlink()
                say('edge disk freed')
                disk_at = None
            time.sleep(1.0)
        figures['rss_end'] = {c.spec.name: rss_mb(c.process.pid) for c in runner.children if c.exit_code is None}
        figures['poison'] = list(poisoner.sent)
        figures['respawns'] = len(runner.respawns)
        poisoner.close()
        say('faults over: draining with the server up')
        time.sleep(60)
    finally:
        runner.request_stop('soak over')


def _check(edge: Path, server: Server, figures: dict, code: int, say) -> int:
    from lpr_recorder.journal import Journal, sqlite_url
    from lpr_server.store import Store
    journal = Journal(sqlite_url(edge / 'journal.sqlite'))
    rows = journal.latest(1_000_000)
    letters = journal.dead_letters(1000)
    journal.close()
    store = Store(f'sqlite:///{server.data_dir / "server.sqlite"}', server.data_dir / 'images')
    on_server = store.event_ids()
    store.close()
    poison = set(figures.get('poison', []))
    committed = {r.event_id for r in rows if r.plate not in poison}
    states = {}
    for r in rows:
        states[r.upload_state] = states.get(r.upload_state, 0) + 1
    stuck = [r for r in rows if r.upload_state == 'pending']
    dead = [r for r in rows if r.upload_state == 'dead_letter']
    dead_not_poison = [r for r in dead if r.plate not in poison]
    missing = committed - set(on_server)
    twice = len(on_server) - len(set(on_server))
    print()
    for name, value in [
        ('graph exit code', code),
        ('events committed on the edge', len(rows)),
        ('upload states', states),
        ('on the server (distinct / rows)', f'{len(set(on_server))} / {len(on_server)}'),
        ('committed, not on the server', len(missing)),
        ('pending at the end', len(stuck)),
        ('poison events sent / dead-lettered', f'{len(poison)} / {sum(r.plate in poison for r in dead)}'),
        ('dead-lettered, not poison', len(dead_not_poison)),
        ('recorder dead letters (never committed)', len(letters)),
        ('nodes started again', figures.get('respawns')),
        ('RSS MB at 2 min', _fmt(figures.get('rss_start', {}))),
        ('RSS MB at the end', _fmt(figures.get('rss_end', {}))),
        ('/dev/shm MB start, end', '%.0f, %.0f' % figures['shm_mb']),
    ]:
        print(f'{name:>40}: {value}')
    for r in dead[:3]:
        print(f'  dead letter {r.plate!r}: {r.upload_error}')
    ok = (code == 0 and rows and not missing and not twice and not stuck and not dead_not_poison
          and figures['shm_mb'][1] <= figures['shm_mb'][0] + 1)
    print('PASS' if ok else 'FAIL')
    return 0 if ok else 1


def _fmt(rss: dict) -> str:
    return ', '.join(f'{k} {v:.0f}' for k, v in sorted(rss.items())) or '-'


if __name__ == '__main__':
    sys.exit(main())
