"""UPS watcher (lpr.ups): the stop decision on status strings, NUT's protocol
against a real upsd with NUT's dummy-ups driver, and the runner's stop path
driven by the watcher (the runner's real run/wait/stop, no node started)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lpr import ups
from lpr.ups import Reading, Thresholds, UpsTarget, UpsWatcher, parse_status, stop_reason

LIMITS = Thresholds(min_charge=20, min_runtime_s=180)


def _reading(status: str, charge=None, runtime=None) -> Reading:
    return Reading(parse_status(status), charge, runtime)


# -- the decision ---------------------------------------------------------------
@pytest.mark.parametrize('status, charge, runtime, stops', [
    ('OL', 100, 3600, False),
    ('OL CHRG', 15, 60, False),           # mains present: a low charge is no reason
    ('OL CHRG LB', 5, 30, False),         # back on line, still charging (as upsmon: not critical)
    ('OB DISCHRG', 80, 1200, False),      # on battery with reserve: keep running, say so
    ('OB DISCHRG', 20, 1200, True),       # at the charge threshold
    ('OB DISCHRG', 50, 180, True),        # at the runtime threshold
    ('OB', None, None, False),            # a UPS reporting neither: only LB stops it
    ('OB LB', None, None, True),
    ('OB LB', 90, 3000, True),            # LB wins over figures that look fine
    ('LB', None, None, True),
    ('OL FSD', 100, 3600, True),          # a NUT primary forces the shutdown
    ('WAIT', None, None, False),          # driver starting
    ('', None, None, False),
])
def test_stop_decision(status, charge, runtime, stops):
    assert (stop_reason(_reading(status, charge, runtime), LIMITS) is not None) == stops


def test_a_threshold_of_zero_is_off():
    assert stop_reason(_reading('OB', 0, 0), Thresholds(0, 0)) is None
    assert stop_reason(_reading('OB LB', 0, 0), Thresholds(0, 0)) is not None


def test_variables_with_junk_numbers_read_as_unknown():
    r = Reading.from_vars({'ups.status': 'ob lb', 'battery.charge': 'n/a', 'battery.runtime': '95'})
    assert r.status == ('OB', 'LB') and r.charge is None and r.runtime_s == 95


@pytest.mark.parametrize('spec, target', [
    ('ups', UpsTarget('ups', '127.0.0.1', 3493)),
    ('ups@10.0.0.2', UpsTarget('ups', '10.0.0.2', 3493)),
    ('ups@nas.local:3494', UpsTarget('ups', 'nas.local', 3494)),
    ('ups@[::1]:3495', UpsTarget('ups', '::1', 3495)),
])
def test_target_parsing(spec, target):
    assert UpsTarget.parse(spec) == target


@pytest.mark.parametrize('spec', ['', '@host', 'ups@host:port', 'ups@host:70000', 'ups@:3493'])
def test_bad_targets_are_usage_errors(spec):
    with pytest.raises(ValueError):
        UpsTarget.parse(spec)


def test_protocol_reply_parsing():
    reply = ['BEGIN LIST VAR ups\n', 'VAR ups ups.status "OB LB"\n', 'VAR ups ups.model "Back \\"UPS\\" 700"\n',
             'VAR ups battery.charge "12"\n', 'END LIST VAR ups\n']
    assert ups.parse_var_list(reply, 'ups') == {'ups.status': 'OB LB', 'ups.model': 'Back "UPS" 700',
                                                'battery.charge': '12'}
    with pytest.raises(ups.UpsError, match='UNKNOWN-UPS'):
        ups.parse_var_list(['ERR UNKNOWN-UPS\n'], 'ups')
    with pytest.raises(ups.UpsError, match='middle'):
        ups.parse_var_list(reply[:2], 'ups')


# -- the watcher's reports ------------------------------------------------------------
def _scripted_watcher(replies: list):
    """A watcher reading from a script of variable dicts (an exception = upsd unreachable)."""
    logs, stops = [], []

    def read():
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    watcher = UpsWatcher(UpsTarget('ups'), LIMITS, stops.append, logs.append, poll_s=0.01, read=read)
    return watcher, logs, stops


def test_state_changes_are_reported_once_and_unreachable_never_stops():
    on_line = {'ups.status': 'OL', 'battery.charge': '100'}
    on_battery = {'ups.status': 'OB DISCHRG', 'battery.charge': '90'}
    down = ups.UpsError('upsd at 127.0.0.1:3493: Connection refused')
    watcher, logs, _ = _scripted_watcher([on_line, on_line, on_battery, on_battery, down, down, on_battery, on_line])
    decisions = [watcher.check() for _ in range(8)]
    assert decisions == [None] * 8
    assert len(logs) == 5, logs
    assert 'on line' in logs[0] and 'ON BATTERY' in logs[1]
    assert logs[2].startswith('warning:') and 'unreachable' in logs[2] and 'keeps running' in logs[2]
    assert 'back on battery' not in logs[3] and 'ON BATTERY' in logs[3]
    assert 'back on line' in logs[4]


def test_the_watcher_thread_calls_on_stop_once():
    replies = [{'ups.status': 'OL'}, {'ups.status': 'OB', 'battery.charge': '50'},
               {'ups.status': 'OB', 'battery.charge': '19'}] + [{'ups.status': 'OB LB'}] * 10
    watcher, logs, stops = _scripted_watcher(replies)
    watcher.start()
    deadline = time.monotonic() + 5
    while not stops and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    assert len(stops) == 1 and 'charge at or below 20 %' in stops[0]
    assert len(replies) == 10, 'polling ends with the stop'


# -- the runner's stop path (real run/wait/stop; start() stubbed: no node starts) ----
@pytest.fixture
def graphless(monkeypatch):
    """lpr.runner.run with GraphRunner.start doing nothing: the runner's own
    wait/stop/exit-status code runs, no process starts and no shared memory is touched."""
    from lpr import runner
    monkeypatch.setattr(runner.GraphRunner, 'start', lambda self: None)
    monkeypatch.setattr(runner.GraphRunner, '_reclaim_shm', lambda self, **_: None)
    return runner


def test_a_ups_stop_takes_the_sigterm_path_and_a_later_sigterm_keeps_it_orderly(graphless):
    r = graphless.GraphRunner(graphless.RunOptions(params_file=Path('unused.yaml')))
    r.request_stop('UPS low battery (OB LB)', code=ups.EXIT_CODE)
    r.request_stop()                      # systemd's SIGTERM while the host powers down
    assert not r._hard_stop
    assert r.wait() == ups.EXIT_CODE
    r.request_stop()                      # a second signal still stops hard
    assert r._hard_stop


def test_signals_still_mean_130_and_a_second_one_is_hard(graphless):
    r = graphless.GraphRunner(graphless.RunOptions(params_file=Path('unused.yaml')))
    r.request_stop()
    r.request_stop()
    assert r._hard_stop and r.wait() == 130


# -- against NUT: upsd + dummy-ups on 127.0.0.1 ----------------------------------
def _nut_program(name: str) -> str | None:
    """NUT's daemons and drivers, from NUT's own dir first (Debian: /lib/nut; its
    /sbin/upsd is a wrapper that refuses to start unless /etc/nut/nut.conf enables it)."""
    for candidate in (f'/lib/nut/{name}', f'/usr/lib/nut/{name}', f'/usr/libexec/nut/{name}', shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write_dev(path: Path, text: str) -> None:
    """dummy-ups (dummy-once mode, *.dev) re-reads the file when its mtime, in
    whole seconds, changes: make sure it does."""
    before = int(path.stat().st_mtime) if path.exists() else None
    path.write_text(text)
    if before is not None and int(path.stat().st_mtime) == before:
        os.utime(path, (before + 1, before + 1))


class DummyUps:
    """upsd and dummy-ups in a temp dir, as the current user (root: -u root,
    or they would switch to the nut user, who cannot read the temp dir)."""

    def __init__(self, root: Path):
        self.root, self.port, self.dev = root, _free_port(), root / 'dummy.dev'
        self.target = UpsTarget('dummy', '127.0.0.1', self.port)
        self.processes: list[subprocess.Popen] = []

    def start(self, status: str = 'OL', charge: int = 100) -> None:
        r = self.root
        _write_dev(self.dev, f'ups.status: {status}\nbattery.charge: {charge}\n')
        # pollinterval 1: the driver looks at the file every second (default 2)
        (r / 'ups.conf').write_text(f'[dummy]\n  driver = dummy-ups\n  port = {self.dev}\n  pollinterval = 1\n')
        (r / 'upsd.conf').write_text(f'LISTEN 127.0.0.1 {self.port}\n')
        (r / 'upsd.users').write_text('')       # reading variables needs no login
        for name in ('ups.conf', 'upsd.conf', 'upsd.users'):
            (r / name).chmod(0o600)
        env = dict(os.environ, NUT_CONFPATH=str(r), NUT_STATEPATH=str(r), NUT_ALTPIDPATH=str(r))
        user = ['-u', 'root'] if os.geteuid() == 0 else []
        self._spawn([_nut_program('dummy-ups'), '-F', '-a', 'dummy', *user], env)
        self._wait_for(lambda: (r / 'dummy-ups-dummy').exists(), 'the driver socket')
        self._spawn([_nut_program('upsd'), '-F', *user], env)
        self._wait_for(lambda: self._status() == status, f'upsd to report {status}')

    def _spawn(self, cmd: list[str], env: dict) -> None:
        log = open(self.root / f'{Path(cmd[0]).name}.log', 'w')
        self.processes.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def _status(self) -> str | None:
        try:
            return ups.read_vars(self.target).get('ups.status')
        except ups.UpsError:
            return None

    def _wait_for(self, predicate, what: str, timeout_s: float = 15.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if predicate():
                return
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.1)
        logs = ''.join(f.read_text() for f in self.root.glob('*.log'))
        raise AssertionError(f'NUT: no {what}\n{logs}')

    def set(self, status: str, charge: int) -> None:
        _write_dev(self.dev, f'ups.status: {status}\nbattery.charge: {charge}\n')

    def close(self) -> None:
        for p in reversed(self.processes):
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def dummy_ups(tmp_path):
    if not (_nut_program('upsd') and _nut_program('dummy-ups')):
        pytest.skip('NUT not installed (Debian: apt-get install nut-server nut-client)')
    nut = DummyUps(tmp_path)
    try:
        nut.start()
        yield nut
    finally:
        nut.close()


def test_our_protocol_client_reads_what_upsc_reads(dummy_ups):
    values = ups.read_vars(dummy_ups.target)
    assert values['ups.status'] == 'OL' and values['battery.charge'] == '100'
    if shutil.which('upsc') is None:
        return
    out = subprocess.run(['upsc', str(dummy_ups.target)], capture_output=True, text=True, timeout=10).stdout
    assert dict(line.split(': ', 1) for line in out.splitlines() if ': ' in line) == values


def test_an_unknown_ups_name_is_a_warning(dummy_ups):
    with pytest.raises(ups.UpsError, match='UNKNOWN-UPS'):
        ups.read_vars(UpsTarget('nosuch', '127.0.0.1', dummy_ups.port))


def test_the_watcher_sees_on_line_then_stops_on_low_battery(dummy_ups):
    logs, stops = [], []
    watcher = UpsWatcher(dummy_ups.target, LIMITS, stops.append, logs.append, poll_s=0.2).start()
    try:
        _until(lambda: watcher.state == 'on line', 5)
        assert not stops
        changed = time.monotonic()
        dummy_ups.set('OB LB', 8)
        _until(lambda: stops, 8)       # the driver's pollinterval (1 s) + our poll (0.2 s), with margin
        print(f'stop decided {time.monotonic() - changed:.1f} s after the .dev file changed')
    finally:
        watcher.stop()
    assert 'on line (OL, charge 100 %)' in logs[0]
    assert stops[0] == 'low battery (OB LB, charge 8 %)' and 'stopping the graph' in logs[-1]


def test_upsd_going_away_is_only_a_warning(dummy_ups):
    logs, stops = [], []
    watcher = UpsWatcher(dummy_ups.target, LIMITS, stops.append, logs.append, poll_s=0.2).start()
    try:
        _until(lambda: watcher.state == 'on line', 5)
        dummy_ups.close()
        _until(lambda: watcher.state == 'unreachable', 5)
        time.sleep(0.5)
        assert not stops and watcher._thread.is_alive()
    finally:
        watcher.stop()
    assert logs[-1].startswith('warning:')


def test_lpr_run_wiring_stops_with_the_ups_exit_status(dummy_ups, graphless):
    """runner.run(--ups) on the dummy UPS: on line it keeps running; the .dev file
    turning to OB LB ends run() through request_stop with ups.EXIT_CODE."""
    options = graphless.RunOptions(params_file=Path('unused.yaml'), ups=str(dummy_ups.target))
    handler = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(2.0, dummy_ups.set, ('OB LB', 8))
    timer.start()
    started = time.monotonic()
    try:
        code, runner = graphless.run(options)
    finally:
        timer.cancel()
    assert code == ups.EXIT_CODE
    assert runner._stop_reason.startswith('UPS low battery') and not runner._hard_stop
    assert 2.0 < time.monotonic() - started < 12.0
    assert signal.getsignal(signal.SIGTERM) == handler   # run() put the handlers back


def _until(predicate, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < end, 'timed out'
        time.sleep(0.05)
