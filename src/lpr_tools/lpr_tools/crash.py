"""Crash test of the real graph: SIGKILL the recorder and bridge nodes while
the graph runs on a looping synthetic scene, let the runner start them again,
then check the journal as the writer's crash test does (lpr_tools.torture):
intact database, every event published on the events topic stored, images
complete, no pass stored twice, nothing left over after recovery, and no
shared-memory growth.

A killed recorder loses the passes it had open (reads not yet decided): those
cars were never acknowledged, and the check does not count them. Everything it
had decided is either committed, in the spool, or was never acknowledged.

    python tools/crash_test.py --graph --kills 10
"""
from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lpr import graph, shm

TARGETS = ('recorder', 'bridge')


@dataclass
class GraphKillResult:
    kills: list[tuple[str, float]] = field(default_factory=list)   # (node, seconds after start)
    events: set[str] = field(default_factory=set)                   # event ids seen on the topic
    exit_code: int = 0
    respawns: int = 0
    shm_before_mb: float = 0.0
    shm_after_mb: float = 0.0
    error: str = ''


def _params(directory: Path, cars: int) -> Path:
    data = yaml.safe_load(graph.default_params_file().read_text()) or {}
    camera = data.setdefault('/**/camera', {}).setdefault('ros__parameters', {})
    camera.update(loop=True, synthetic_cars=cars)
    path = directory / 'crash.params.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


def _shm_mb() -> float:
    total = 0
    for name in shm.segment_names():
        try:
            total += (shm.SHM_DIR / name).stat().st_size
        except OSError:
            pass
    return total / 1e6


def graph_kill_loop(data_dir: str | os.PathLike, kills: int, rng, gap_s: tuple[float, float] = (2.0, 6.0),
                    targets: tuple[str, ...] = TARGETS, cars: int = 4, log=print,
                    ready_timeout_s: float = 180.0) -> GraphKillResult:
    """Run the graph on ``data_dir`` and kill a node of ``targets`` ``kills``
    times, ``gap_s`` seconds apart (uniform), each once the previous one is
    active again."""
    from lpr.runner import GraphRunner, RunOptions
    result = GraphKillResult(shm_before_mb=_shm_mb())
    with tempfile.TemporaryDirectory(prefix='lpr-crash-graph-') as tmp:
        options = RunOptions(params_file=_params(Path(tmp), cars), namespace=f'crash{os.getpid()}',
                             source='synthetic:1', data_dir=str(data_dir), bridge='bridge' in targets,
                             log_level='error', respawn=kills + 1)
        runner = GraphRunner(options, on_event=lambda msg: result.events.add(msg.event_id))
        killer = threading.Thread(target=_killer, args=(runner, kills, rng, gap_s, targets, result, log,
                                                        ready_timeout_s), daemon=True)
        runner.start()
        killer.start()
        try:
            result.exit_code = runner.wait()
        finally:
            runner.request_stop('crash test over')
            killer.join(10.0)
        result.respawns = len(runner.respawns)
        result.events.update(e.event_id for e in runner.monitor_events)
    result.shm_after_mb = _shm_mb()
    return result


def _killer(runner, kills, rng, gap_s, targets, result, log, ready_timeout_s) -> None:
    started = time.monotonic()
    try:
        if not _wait(lambda: runner.running(), ready_timeout_s):
            result.error = 'the graph never became active'
            return
        for i in range(kills):
            time.sleep(rng.uniform(*gap_s))
            name = rng.choice(targets)
            child = next((c for c in reversed(runner.children) if c.spec.name == name and c.exit_code is None),
                         None)
            if child is None:
                result.error = f'no running {name} to kill'
                return
            if runner.monitor is not None:
                runner.monitor.status.pop(name, None)   # wait for the new process's own status
            os.kill(child.process.pid, signal.SIGKILL)
            result.kills.append((name, round(time.monotonic() - started, 1)))
            log(f'  kill {i + 1}/{kills}: {name} (pid {child.process.pid})')
            if not _wait(lambda: runner.monitor is not None and
                         runner.monitor.status.get(name, {}).get('lifecycle') == 'active', ready_timeout_s):
                result.error = f'{name} not active again after a kill'
                return
        time.sleep(gap_s[1])   # let the last passes close and commit
    finally:
        runner.request_stop('crash test over')


def _wait(predicate, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False
