"""The pip-world equivalent of ``ros2 launch``: one process per node, supervised.

Children run in their own session, so a Ctrl-C reaches only the runner,
which stops the graph in order: the camera first, then each node is
deactivated through its lifecycle service (the detector and OCR drain their
queues, the recorder turns open passes into events and commits them), then
every process gets SIGTERM and exits cleanly (no /dev/shm debris; a node still
importing when the stop comes, with no handler yet, ends quietly). A second
Ctrl-C stops everything at once. A node that dies is started again (its
start-up recovers what it was doing: the recorder's journal, spool and
images); one that dies more than ``respawn`` times within a minute stops the
graph, as does any death with ``respawn`` 0.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from lpr import graph, shm
from lpr_common.process import PARENT_ENV

RESPAWN_WINDOW_S = 60.0


@dataclass
class Child:
    spec: graph.NodeSpec
    process: subprocess.Popen
    started: float
    exit_code: int | None = None
    cpu_s: float = 0.0
    wall_s: float = 0.0
    max_rss_mb: float = 0.0


@dataclass
class RunOptions:
    params_file: Path
    namespace: str = graph.DEFAULT_NAMESPACE
    source: str = ''
    server_url: str = ''
    data_dir: str = ''
    bridge: bool = True
    log_level: str = 'info'
    duration_s: float = 0.0           # 0 = until the source ends or Ctrl-C
    foxglove: bool = False            # also start the Foxglove WebSocket bridge
    foxglove_port: int = 8765
    ingest: bool = False              # also start the ingest node (ANPR camera pushes and FTP uploads)
    access: bool = False              # also start the access node (decisions and the barrier)
    with_camera: bool = True          # False: start() leaves the camera out (lpr eval, lpr record)
    respawn: int = 3                  # restarts of a dying node allowed within RESPAWN_WINDOW_S (0 = none)
    ups: str = ''                     # NAME@HOST[:PORT]: stop in order on a low UPS battery (lpr.ups)
    ups_min_charge: float = 20.0      # percent, on battery
    ups_min_runtime_s: float = 180.0  # seconds, on battery
    extra_env: dict = field(default_factory=dict)


class GraphRunner:
    def __init__(self, options: RunOptions, on_event: Callable | None = None,
                 out=sys.stdout):
        self.options = options
        self.on_event = on_event
        self.out = out
        self.children: list[Child] = []
        self._override_file: Path | None = None
        self._stop = threading.Event()
        self._hard_stop = False
        self.monitor = None
        self._cameras_pending: list[graph.NodeSpec] = []
        self.ready_timeout_s = 120.0
        self.monitor_events: list = []   # final events seen on the events topic
        self.monitor_arrivals: dict = {}  # event id -> wall-clock ns it was seen
        self._shm_before: set[str] = set()
        self._stop_reason = ''
        self._stop_code: int | None = None
        self._spare_signal = False       # after a stop with its own code, one signal is not a hurry
        self.last_status: dict = {}      # last /diagnostics values per node
        self.respawns: list[tuple[float, str, int]] = []   # (monotonic time, node, exit code)

    # -- start --------------------------------------------------------------
    def camera_names(self) -> list[str]:
        return graph.camera_names(self.options.params_file)

    def specs(self) -> list[graph.NodeSpec]:
        cameras = graph.camera_specs(self.camera_names()) if self.options.with_camera else []
        specs = [s for s in graph.NODES if not s.is_camera and (s.name != 'bridge' or self.options.bridge)
                 and (not s.optional or getattr(self.options, s.name, False))]
        return cameras + specs + ([graph.FOXGLOVE] if self.options.foxglove else [])

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(graph.dds_environment())
        env.update(self.options.extra_env)
        env.setdefault('PYTHONUNBUFFERED', '1')
        env.setdefault('RCUTILS_COLORIZED_OUTPUT', '0')
        env[PARENT_ENV] = str(os.getpid())   # children get SIGTERM when the runner dies
        return env

    def command(self, spec: graph.NodeSpec) -> list[str]:
        o = self.options
        if spec is graph.FOXGLOVE:
            return [sys.executable, '-m', spec.module, '--namespace', o.namespace, '--port', str(o.foxglove_port)]
        cmd = [sys.executable, '-m', spec.module, '--ros-args',
               '-r', f'__node:={spec.name}', '-r', f'__ns:=/{o.namespace}',
               '--params-file', str(o.params_file), '--log-level', o.log_level]
        for topic, target in spec.remaps:
            cmd += ['-r', f'{topic}:={target}']
        if self._override_file is not None:
            cmd += ['--params-file', str(self._override_file)]
        return cmd

    def start(self) -> None:
        if not self.options.params_file.is_file():
            raise FileNotFoundError(f'params file not found: {self.options.params_file}')
        self._write_overrides()
        env = self.environment()
        self._reclaim_shm(older_than_s=10.0)   # left by graphs that were killed
        self._shm_before = shm.segment_names()
        from lpr.monitor import GraphMonitor  # rclpy in the runner only for watching
        self.monitor = GraphMonitor(self.options.namespace, self.on_event, env)
        for spec in self.specs():
            if spec.is_camera:
                self._cameras_pending.append(spec)   # started once the rest is active (see wait)
            else:
                self.start_node(spec, env)

    def start_node(self, spec: graph.NodeSpec, env: dict[str, str] | None = None) -> None:
        """Start one node's process (after start(): e.g. the camera once the rest is up).
        Call it from the main thread: the child's parent-death signal (which the
        child asks for, lpr_common.process) follows the thread that started it."""
        process = subprocess.Popen(self.command(spec), env=env or self.environment(), start_new_session=True)
        self.children.append(Child(spec, process, time.monotonic()))

    def _write_overrides(self) -> None:
        o = self.options
        extra = {name: {'ros__parameters': values}
                 for name, values in graph.overrides(o.source, o.server_url, o.data_dir,
                                                     self.camera_names()).items()
                 if values}
        if not extra:
            return
        fd, path = tempfile.mkstemp(prefix='lpr-overrides-', suffix='.yaml')
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump({f'/**/{k}': v for k, v in extra.items()}, f)
        self._override_file = Path(path)

    # -- run ----------------------------------------------------------------
    def wait(self) -> int:
        """Supervise until the source ends, a node dies, Ctrl-C or the duration passes."""
        deadline = time.monotonic() + self.options.duration_s if self.options.duration_s > 0 else None
        ready_by = time.monotonic() + self.ready_timeout_s
        reason, code = None, 0
        while reason is None:
            if self._stop.wait(0.2):
                reason = self._stop_reason or 'interrupted'
                code = self._stop_code if self._stop_code is not None else (130 if reason == 'interrupted' else 0)
            elif deadline is not None and time.monotonic() >= deadline:
                reason = 'duration reached'
            elif self._cameras_pending:
                if self.all_active():
                    for spec in self._cameras_pending:
                        self.start_node(spec)
                    self._cameras_pending = []
                elif time.monotonic() > ready_by:
                    reason, code = f'nodes not active after {self.ready_timeout_s:.0f} s', 1
            for child in list(self.children):
                if child.exit_code is not None or not self._poll(child):
                    continue
                rc = child.exit_code
                if child.spec.is_camera and rc == 0:
                    if self._all_sources_ended():
                        reason = 'source ended'
                    else:
                        self._log(f'{child.spec.name}: source ended')
                elif reason is None and self._respawn(child):
                    continue
                else:
                    reason, code = f'{child.spec.name} exited with code {rc}', 1
                    break
        self._log(f'stopping the graph: {reason}')
        self.stop()
        return code

    def _respawn(self, child: Child) -> bool:
        """Start a node that died again, unless it keeps dying (then False)."""
        now = time.monotonic()
        recent = [t for t, name, _ in self.respawns if name == child.spec.name and now - t < RESPAWN_WINDOW_S]
        if len(recent) >= self.options.respawn:
            return False
        self.respawns.append((now, child.spec.name, child.exit_code))
        self._log(f'{child.spec.name} exited with code {child.exit_code}; starting it again '
                  f'({len(recent) + 1} of {self.options.respawn} within {RESPAWN_WINDOW_S:.0f} s)')
        self._reclaim_shm(among=shm.segment_names() - self._shm_before)   # what the dead one left
        self.start_node(child.spec)
        return True

    def _all_sources_ended(self) -> bool:
        """Every camera's latest process ended its source (exit 0): a file or folder played out."""
        latest = {c.spec.name: c for c in self.children if c.spec.is_camera}
        return not self._cameras_pending and all(c.exit_code == 0 for c in latest.values())

    def running(self) -> bool:
        """The whole graph is up: every camera started and every lifecycle node active."""
        return not self._cameras_pending and self.all_active()

    def all_active(self) -> bool:
        """The camera starts last: frames published before the detector, OCR and
        recorder are up would be lost (a file or the synthetic scene has no rerun)."""
        status = dict(self.monitor.status) if self.monitor is not None else {}
        waiting = [c.spec.name for c in self.children if c.spec.lifecycle]
        return all(status.get(name, {}).get('lifecycle') == 'active' for name in waiting)

    def request_stop(self, reason: str = 'interrupted', code: int | None = None) -> None:
        """Stop in order (a second request stops hard). ``reason`` is logged;
        'interrupted' (a signal) makes ``wait`` return 130, as shells expect;
        ``code`` is another exit status (the UPS watcher's). After a stop with
        its own code, the first signal (systemd's SIGTERM as the host powers
        down) leaves it orderly; a second one stops hard."""
        if self._stop.is_set():
            if self._spare_signal and reason == 'interrupted':
                self._spare_signal = False
            else:
                self._hard_stop = True
        else:
            self._stop_reason, self._stop_code = reason, code
            self._spare_signal = code is not None
        self._stop.set()

    # -- stop ---------------------------------------------------------------
    def stop(self) -> None:
        running = [c for c in self.children if c.exit_code is None]
        # SIGTERM, not SIGINT: the nodes handle both alike, but one still importing
        # (no handler yet) would print a KeyboardInterrupt traceback on SIGINT.
        cameras = [c for c in running if c.spec.is_camera]
        for c in cameras:
            self._signal(c, signal.SIGTERM)
        for c in cameras:
            self._join(c, 10.0)
        if not self._hard_stop and self.monitor is not None:
            for c in running:
                if not c.spec.is_camera and c.spec.lifecycle and not self._poll(c):
                    ok = self.monitor.deactivate(c.spec.name, timeout_s=60.0)
                    if not ok:
                        self._log(f'{c.spec.name}: deactivation did not complete')
        for c in running:
            if c.exit_code is None:
                self._signal(c, signal.SIGTERM)
        for c in running:
            if c.exit_code is None and not self._join(c, 15.0):
                self._signal(c, signal.SIGKILL)
                self._join(c, 5.0)
        if self.monitor is not None:
            self.monitor_events = list(self.monitor.events)
            self.monitor_arrivals = dict(self.monitor.arrivals)
            self.last_status = dict(self.monitor.status)
            self.monitor.close()
            self.monitor = None
        if self._override_file is not None:
            self._override_file.unlink(missing_ok=True)
        # segments of our nodes that died without cleaning up (a node killed hard)
        self._reclaim_shm(among=shm.segment_names() - self._shm_before)

    def _reclaim_shm(self, **kwargs) -> None:
        cleaned = shm.clean(**kwargs)
        if cleaned.files:
            self._log(f'removed {cleaned.files} shared-memory files ({cleaned.bytes / 1e6:.0f} MB) '
                      'left by DDS processes that died')

    def _signal(self, child: Child, sig: int) -> None:
        if child.exit_code is None:
            try:
                os.kill(child.process.pid, sig)
            except ProcessLookupError:
                pass

    def _join(self, child: Child, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._poll(child):
                return True
            time.sleep(0.05)
        return False

    def _poll(self, child: Child) -> bool:
        """True once the child has exited (then exit code and CPU time are set)."""
        if child.exit_code is not None:
            return True
        try:
            # wait4, not Popen.poll: it also returns the child's CPU time, the per-node figure.
            pid, status, usage = os.wait4(child.process.pid, os.WNOHANG)
        except ChildProcessError:
            child.exit_code = -1
            return True
        if pid == 0:
            return False
        child.exit_code = os.waitstatus_to_exitcode(status)
        child.process.returncode = child.exit_code
        child.cpu_s = usage.ru_utime + usage.ru_stime
        child.max_rss_mb = usage.ru_maxrss / 1024.0
        child.wall_s = time.monotonic() - child.started
        return True

    def _log(self, text: str) -> None:
        print(f'[lpr] {text}', file=sys.stderr, flush=True)

    def cpu_report(self) -> list[tuple[str, float, float, float]]:
        """(node, CPU seconds, share of one core over its lifetime, peak RSS in MB)."""
        return [(c.spec.name, c.cpu_s, c.cpu_s / c.wall_s if c.wall_s else 0.0, c.max_rss_mb)
                for c in self.children]


def run(options: RunOptions, on_event: Callable | None = None) -> tuple[int, GraphRunner]:
    """Start, supervise and stop the graph; Ctrl-C / SIGTERM stop it in order."""
    runner = GraphRunner(options, on_event)
    previous = {sig: signal.signal(sig, lambda *_: runner.request_stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher = None
    try:
        watcher = _start_ups_watcher(runner) if options.ups else None
        runner.start()
        return runner.wait(), runner
    except BaseException:
        runner._hard_stop = True
        runner.stop()
        raise
    finally:
        if watcher is not None:
            watcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_ups_watcher(runner: GraphRunner):
    """--ups: a low battery stops the graph as SIGTERM does, with exit status ups.EXIT_CODE."""
    from lpr import ups
    o = runner.options
    return ups.UpsWatcher(ups.UpsTarget.parse(o.ups), ups.Thresholds(o.ups_min_charge, o.ups_min_runtime_s),
                          on_stop=lambda why: runner.request_stop(f'UPS {why}', code=ups.EXIT_CODE),
                          log=runner._log).start()
