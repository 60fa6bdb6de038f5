"""Access node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_access.barrier import DRIVERS, FAIL_SAFE_STATES, HTTP_METHODS
from lpr_access.decide import UNKNOWN_POLICIES
from lpr_access.plates import Tolerance
from lpr_common.config import check, param


@dataclass(frozen=True)
class AccessConfig:
    db_url: str = param('', 'journal database URL holding the access lists; empty = the recorder default')
    reload_s: float = param(3.0, 'seconds between re-reads of the lists (web edits apply within this)')
    unknown: str = param('review', 'a plate on no list: review (an operator decides) or deny')
    max_edits: int = param(1, 'characters a read may differ from a listed plate and still match it')
    confusables: bool = param(True, 'glyph twins (O/0, B/8, A/4...) count as the same character')
    driver: str = param('log', 'barrier driver: log (drives nothing), http (a network relay), gpio (Raspberry Pi)')
    pulse_s: float = param(1.0, 'how long the barrier output is held on for one open')
    fail_safe: str = param('closed', 'state the GPIO output takes when the node stops or the driver fails: '
                                     'closed (output off) or open (output on, e.g. an emergency exit)')
    http_url: str = param('', 'relay URL requested per open (driver http); {pulse_s} is replaced by pulse_s')
    http_method: str = param('POST', 'POST or GET (driver http)')
    http_timeout_s: float = param(2.0, 'seconds before a relay request counts as failed (driver http)')
    gpio_pin: int = param(17, 'BCM pin number of the relay (driver gpio)')
    gpio_active_high: bool = param(True, 'the relay closes when the pin is high (driver gpio)')
    manual_poll_s: float = param(0.5, 'seconds between looks for manual opens requested in the web journal')
    manual_expiry_s: float = param(30.0, 'a manual open not executed within this many seconds of the request '
                                         'is marked expired and never executed')
    manual_cameras: str = param('', 'camera ids whose manual opens this node executes (space or comma '
                                    'separated); empty = all. Requests without a camera go to any node')

    def validate(self) -> None:
        check(self.unknown in UNKNOWN_POLICIES, f'unknown must be one of {", ".join(UNKNOWN_POLICIES)}')
        check(self.driver in DRIVERS, f'driver must be one of {", ".join(DRIVERS)}')
        check(self.fail_safe in FAIL_SAFE_STATES, f'fail_safe must be one of {", ".join(FAIL_SAFE_STATES)}')
        check(self.http_method in HTTP_METHODS, f'http_method must be one of {", ".join(HTTP_METHODS)}')
        check(0 <= self.max_edits <= 2, 'max_edits must be within 0..2')
        check(0.05 <= self.pulse_s <= 60, 'pulse_s must be within 0.05..60')
        check(self.reload_s >= 0.2, 'reload_s must be >= 0.2')
        check(self.http_timeout_s > 0, 'http_timeout_s must be > 0')
        check(0.05 <= self.manual_poll_s <= 10, 'manual_poll_s must be within 0.05..10')
        check(self.manual_expiry_s >= 1, 'manual_expiry_s must be >= 1')
        check(self.driver != 'http' or self.http_url.startswith(('http://', 'https://')),
              'driver http needs http_url (http:// or https://)')
        check(0 <= self.gpio_pin <= 53, 'gpio_pin must be within 0..53')

    def tolerance(self) -> Tolerance:
        return Tolerance(self.max_edits, self.confusables)
