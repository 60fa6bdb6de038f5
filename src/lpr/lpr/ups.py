"""UPS watcher: stop the graph in order before the UPS battery runs flat.

Reads the UPS through Network UPS Tools. It speaks NUT's network protocol to
upsd itself (one TCP connection per poll: ``LIST VAR <ups>``, then ``LOGOUT``)
rather than running ``upsc``: the box needs no nut-client package (upsd often
runs elsewhere: on the host the UPS is plugged into, a NAS), no process is
started every poll, and a failure comes back as upsd's own error
(``ERR UNKNOWN-UPS``, ``ERR DATA-STALE``) rather than text on stderr.

The decision (``stop_reason``) is a pure function of one reading:

* ``FSD``: a NUT primary is forcing a shutdown: stop now;
* ``LB`` (low battery, as the UPS or its driver judges it) while not on line:
  stop now. ``OL LB`` (mains back, battery still charging, e.g. at the boot
  after an outage) is not a reason to stop, as for NUT's own upsmon;
* ``OB`` (on battery) and ``battery.charge`` or ``battery.runtime`` at or
  below a threshold: stop now, before the UPS's own LB, so that the orderly
  stop (up to the unit's 90 s) fits in what is left.

An unreachable UPS or upsd is a warning, never a stop: the watcher keeps
polling and says when it is back.
"""
from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass
from typing import Callable

DEFAULT_PORT = 3493             # upsd's registered port
POLL_S = 2.0                    # upsmon polls every 5 s on battery; a little faster here
EXIT_CODE = 3                   # `lpr run`'s exit status after a UPS stop (see service.py)
STOP_MESSAGE = 'stopped: UPS low battery'


class UpsError(Exception):
    """upsd could not be reached or did not answer with the UPS's variables."""


@dataclass(frozen=True)
class UpsTarget:
    name: str
    host: str = '127.0.0.1'
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, spec: str) -> 'UpsTarget':
        """NAME[@HOST[:PORT]], as upsc takes it (HOST may be [IPv6])."""
        name, _, where = spec.strip().partition('@')
        host, port = where or '127.0.0.1', str(DEFAULT_PORT)
        if host.startswith('['):                       # [::1]:3493
            host, _, rest = host[1:].partition(']')
            port = rest.lstrip(':') or port
        elif ':' in host:
            host, _, port = host.partition(':')
        if not name or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f'--ups {spec!r}: expected NAME@HOST[:PORT], e.g. ups@127.0.0.1:3493')
        return cls(name, host, int(port))

    def __str__(self) -> str:
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'{self.name}@{host}:{self.port}'


@dataclass(frozen=True)
class Thresholds:
    min_charge: float = 20.0        # percent; 0 = off
    min_runtime_s: float = 180.0    # seconds; 0 = off. Twice the unit's 90 s stop timeout


@dataclass(frozen=True)
class Reading:
    status: tuple[str, ...]         # ups.status tokens: OL, OB, LB, CHRG, FSD, ...
    charge: float | None = None     # battery.charge, percent
    runtime_s: float | None = None  # battery.runtime, seconds

    @classmethod
    def from_vars(cls, values: dict[str, str]) -> 'Reading':
        return cls(parse_status(values.get('ups.status', '')),
                   _number(values.get('battery.charge')), _number(values.get('battery.runtime')))

    def describe(self) -> str:
        parts = [' '.join(self.status) or 'no status']
        if self.charge is not None:
            parts.append(f'charge {self.charge:g} %')
        if self.runtime_s is not None:
            parts.append(f'runtime {self.runtime_s:g} s')
        return ', '.join(parts)


def parse_status(text: str) -> tuple[str, ...]:
    return tuple(text.upper().split())


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def stop_reason(reading: Reading, limits: Thresholds) -> str | None:
    """Why the graph must stop now, or None to keep running."""
    status = reading.status
    if 'FSD' in status:
        return f'forced shutdown ({reading.describe()})'
    if 'LB' in status and 'OL' not in status:
        return f'low battery ({reading.describe()})'
    if 'OB' not in status:
        return None
    if limits.min_charge > 0 and reading.charge is not None and reading.charge <= limits.min_charge:
        return f'on battery, charge at or below {limits.min_charge:g} % ({reading.describe()})'
    if limits.min_runtime_s > 0 and reading.runtime_s is not None and reading.runtime_s <= limits.min_runtime_s:
        return f'on battery, runtime at or below {limits.min_runtime_s:g} s ({reading.describe()})'
    return None


def power_state(status: tuple[str, ...]) -> str:
    if 'OB' in status:
        return 'on battery'
    return 'on line' if 'OL' in status else 'unknown'   # e.g. WAIT while the driver starts


# -- NUT's network protocol (docs/net-protocol.txt in NUT) --------------------
_VAR_LINE = re.compile(r'^VAR (?P<ups>\S+) (?P<var>\S+) "(?P<value>.*)"$')


def read_vars(target: UpsTarget, timeout_s: float = 3.0) -> dict[str, str]:
    """Every variable of one UPS, from upsd."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout_s) as sock:
            sock.sendall(f'LIST VAR {target.name}\n'.encode())
            values = parse_var_list(sock.makefile('r', encoding='utf-8', errors='replace'), target.name)
            sock.sendall(b'LOGOUT\n')
            return values
    except OSError as exc:     # refused, timed out, reset, no route
        raise UpsError(f'upsd at {target.host}:{target.port}: {exc.strerror or exc}') from exc


def parse_var_list(lines, name: str) -> dict[str, str]:
    """The reply to LIST VAR: BEGIN LIST VAR, VAR lines, END LIST VAR; or ERR."""
    lines = iter(lines)
    first = next(lines, '').strip()
    if first.startswith('ERR '):
        raise UpsError(f'upsd: {first[4:]}')          # UNKNOWN-UPS, DATA-STALE, DRIVER-NOT-CONNECTED
    if first != f'BEGIN LIST VAR {name}':
        raise UpsError(f'upsd: unexpected reply {first!r}')
    values = {}
    for line in lines:
        line = line.rstrip('\r\n')
        if line == f'END LIST VAR {name}':
            return values
        match = _VAR_LINE.match(line)
        if match:
            values[match['var']] = re.sub(r'\\(.)', r'\1', match['value'])   # \" and \\ escapes
    raise UpsError('upsd: the connection closed in the middle of the list')


# -- the watcher --------------------------------------------------------------
class UpsWatcher:
    """Polls the UPS in a thread, logs changes of power state, and calls
    ``on_stop(reason)`` once when the graph must stop."""

    def __init__(self, target: UpsTarget, limits: Thresholds, on_stop: Callable[[str], None],
                 log: Callable[[str], None] = print, poll_s: float = POLL_S,
                 read: Callable[[], dict[str, str]] | None = None):
        self.target, self.limits, self.on_stop, self.log, self.poll_s = target, limits, on_stop, log, poll_s
        self.read = read or (lambda: read_vars(target))
        self.state = ''                 # last reported: on line, on battery, unknown, unreachable
        self.stop_reason: str | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> str | None:
        """One poll: report a change of state; return the stop reason when it is time."""
        try:
            reading = Reading.from_vars(self.read())
        except UpsError as exc:
            self._report('unreachable', f'warning: UPS {self.target} unreachable ({exc}); '
                                        f'the graph keeps running, retrying every {self.poll_s:g} s')
            return None
        state = power_state(reading.status)
        if state == 'on battery':
            text = (f'UPS {self.target}: ON BATTERY ({reading.describe()}); the graph stops at LB, charge '
                    f'<= {self.limits.min_charge:g} % or runtime <= {self.limits.min_runtime_s:g} s')
        else:
            back = 'back ' if self.state in ('on battery', 'unreachable') else ''
            text = f'UPS {self.target}: {back}{state} ({reading.describe()})'
        self._report(state, text)
        return stop_reason(reading, self.limits)

    def _report(self, state: str, text: str) -> None:
        if state != self.state:
            self.state = state
            self.log(text)

    def start(self) -> 'UpsWatcher':
        self._thread = threading.Thread(target=self._loop, name='lpr-ups', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        while not self._halt.is_set():
            reason = self.check()
            if reason is not None:
                self.stop_reason = reason
                self.log(f'UPS {self.target}: {reason}: stopping the graph in order')
                self.on_stop(reason)
                return
            self._halt.wait(self.poll_s)
