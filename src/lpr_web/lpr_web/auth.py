"""Passwords (scrypt from the standard library), CSRF tokens and the
login rate limit. No web framework here."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque

# scrypt cost: 16 MiB of memory and ~50 ms per check on a small ARM board.
_N, _R, _P, _LEN = 2 ** 14, 8, 1, 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (salt and hash base64)."""
    if not password:
        raise ValueError('empty password')
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return f'scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}'


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split('$')
        if scheme != 'scrypt':
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# A hash to check against when the user does not exist, so that a wrong
# name takes as long as a wrong password.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


class LoginLimiter:
    """At most ``attempts`` failed logins per ``window_s`` for one client
    address and for one user name; more are refused before any password check."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0, clock=time.monotonic):
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures, horizon = self._failures[key], self.clock() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def retry_after(self, client: str, user: str) -> float:
        """0 when a login may be tried now, else seconds to wait."""
        waits = [failures[0] + self.window_s - self.clock()
                 for failures in (self._recent('ip:' + client), self._recent('user:' + user.lower()))
                 if len(failures) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, client: str, user: str) -> None:
        now = self.clock()
        self._recent('ip:' + client).append(now)
        self._recent('user:' + user.lower()).append(now)

    def succeeded(self, client: str, user: str) -> None:
        self._failures.pop('ip:' + client, None)
        self._failures.pop('user:' + user.lower(), None)
