"""Barrier drivers behind one interface: ``open()`` pulses the barrier and
``stop()`` leaves it in its fail-safe state. Neither ever raises: a failure is
counted, kept in ``last_error`` for the status, and the output goes to the
fail-safe state where the driver has one (GPIO)."""
from __future__ import annotations

import time
import urllib.request
from typing import Callable

DRIVERS = ('log', 'http', 'gpio')
HTTP_METHODS = ('POST', 'GET')
FAIL_SAFE_STATES = ('closed', 'open')


class Barrier:
    """The ``log`` driver: says what it would do, drives nothing."""
    kind = 'log'

    def __init__(self, pulse_s: float, log: Callable[[str], None]):
        self.pulse_s = pulse_s
        self.log = log
        self.pulses = 0
        self.errors = 0
        self.last_error = ''           # '' while the last attempt worked
        self.last_pulse_ns: int | None = None   # wall clock when the last pulse was sent

    @property
    def healthy(self) -> bool:
        return not self.last_error

    def open(self) -> bool:
        """Pulse the barrier open; False (counted, never raised) when that failed."""
        try:
            self._pulse()
        except Exception as exc:  # noqa: BLE001 - a driver failure must never reach the node
            self.errors += 1
            self.last_error = f'{type(exc).__name__}: {exc}'
            self._fail_safe()
            return False
        self.pulses += 1
        self.last_pulse_ns = time.time_ns()
        self.last_error = ''
        return True

    def stop(self) -> None:
        """The node stops: fail-safe state."""
        self._fail_safe()

    def close(self) -> None:
        """Release what the driver holds. Safe to call twice."""

    def _pulse(self) -> None:
        self.log(f'barrier open, pulse {self.pulse_s:g} s (driver log: nothing driven)')

    def _fail_safe(self) -> None:
        """Put the output into its fail-safe state; must not raise."""


class HttpBarrier(Barrier):
    """A network relay: one request per pulse (``{pulse_s}`` in the URL is
    replaced by the pulse length, for relays that time the pulse themselves)."""
    kind = 'http'

    def __init__(self, pulse_s: float, log, url: str, method: str = 'POST', timeout_s: float = 2.0):
        super().__init__(pulse_s, log)
        self.url, self.method, self.timeout_s = url, method, timeout_s

    def _pulse(self) -> None:
        url = self.url.replace('{pulse_s}', f'{self.pulse_s:g}')
        request = urllib.request.Request(url, method=self.method, data=b'' if self.method == 'POST' else None)
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:   # non-2xx raises HTTPError
            response.read()


class GpioBarrier(Barrier):
    """A relay on a Raspberry Pi GPIO pin (gpiozero, imported when first used).
    A pin that cannot be opened is an error, tried again at the next pulse."""
    kind = 'gpio'

    def __init__(self, pulse_s: float, log, pin: int, active_high: bool = True, fail_safe: str = 'closed'):
        super().__init__(pulse_s, log)
        self.pin, self.active_high = pin, active_high
        self.fail_safe_on = fail_safe == 'open'
        self._device = None
        try:
            self._device = self._open_device()
        except Exception as exc:  # noqa: BLE001 - no gpiozero, no pin: an error in the status
            self.errors += 1
            self.last_error = f'GPIO{pin}: {type(exc).__name__}: {exc}'

    def _open_device(self):
        from gpiozero import DigitalOutputDevice
        return DigitalOutputDevice(self.pin, active_high=self.active_high, initial_value=self.fail_safe_on)

    def _pulse(self) -> None:
        if self._device is None:
            self._device = self._open_device()
        # Back to inactive after the pulse, in gpiozero's own background thread.
        self._device.blink(on_time=self.pulse_s, off_time=0, n=1, background=True)

    def _fail_safe(self) -> None:
        if self._device is None:
            return
        try:
            self._device.value = self.fail_safe_on   # also ends a running pulse
        except Exception as exc:  # noqa: BLE001
            self.last_error = f'fail-safe state not set: {type(exc).__name__}: {exc}'

    def close(self) -> None:
        if self._device is not None:
            device, self._device = self._device, None
            try:
                device.close()
            except Exception:  # noqa: BLE001 - released at exit anyway
                pass


def make_barrier(driver: str, pulse_s: float, log, *, http_url: str = '', http_method: str = 'POST',
                 http_timeout_s: float = 2.0, gpio_pin: int = 17, gpio_active_high: bool = True,
                 fail_safe: str = 'closed') -> Barrier:
    if driver == 'http':
        return HttpBarrier(pulse_s, log, http_url, http_method, http_timeout_s)
    if driver == 'gpio':
        return GpioBarrier(pulse_s, log, gpio_pin, gpio_active_high, fail_safe)
    if driver == 'log':
        return Barrier(pulse_s, log)
    raise ValueError(f'driver must be one of {DRIVERS}, not {driver!r}')
