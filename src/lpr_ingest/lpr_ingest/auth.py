"""HTTP Digest authentication (RFC 7616, MD5 with qop=auth, as Hikvision's
"MD5digest" HTTP host and Dahua's ITSAPI client speak it) for the ingest
listener, and where its password comes from. No ROS here.

The nonce is stateless: a time stamp and its HMAC under a per-process secret,
so it expires (``nonce_ttl_s``) and cannot be forged; a client answering an
expired nonce is told ``stale=true`` and retries without a new password
prompt. Basic authentication is not offered: it would put the password on
the wire in clear.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from typing import Mapping

from lpr_common.secret_files import read_secret

PASSWORD_ENV = 'LPR_INGEST_PASSWORD'
REALM = 'lpr-ingest'
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def load_password(password_file: str = '', environ: Mapping[str, str] = os.environ) -> str:
    """From ``password_file`` when given, else $LPR_INGEST_PASSWORD, else ''."""
    return read_secret(password_file, PASSWORD_ENV, 'password_file', environ)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode('utf-8')).hexdigest()


def parse_header(value: str) -> dict[str, str]:
    """The parameters of an ``Authorization: Digest ...`` header ({} if not Digest)."""
    scheme, _, rest = value.strip().partition(' ')
    if scheme.lower() != 'digest':
        return {}
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(rest)}


class DigestAuth:
    def __init__(self, username: str, password: str, nonce_ttl_s: float = 300.0):
        self.username = username
        self._ha1 = _md5(f'{username}:{REALM}:{password}')
        self._secret = secrets.token_bytes(32)
        self.nonce_ttl_s = nonce_ttl_s

    def _nonce(self, at: int | None = None) -> str:
        stamp = str(int(time.time()) if at is None else at)
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return f'{stamp}-{mac}'

    def _nonce_state(self, nonce: str) -> str:
        """'fresh', 'stale' (ours but expired) or 'bad'."""
        stamp, _, _ = nonce.partition('-')
        if not stamp.isdigit() or not hmac.compare_digest(nonce, self._nonce(int(stamp))):
            return 'bad'
        return 'fresh' if time.time() - int(stamp) <= self.nonce_ttl_s else 'stale'

    def challenge(self, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value of a 401 answer."""
        extra = ', stale=true' if stale else ''
        return f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{self._nonce()}"{extra}'

    def check(self, method: str, path: str, header: str | None) -> str:
        """'ok', 'stale' (retry with a new nonce) or 'refused'."""
        p = parse_header(header or '')
        needed = ('username', 'nonce', 'uri', 'response')
        if not all(p.get(k) for k in needed) or p.get('realm', REALM) != REALM:
            return 'refused'
        if p.get('algorithm', 'MD5').upper() != 'MD5' or p['uri'] != path:
            return 'refused'
        state = self._nonce_state(p['nonce'])
        if state != 'fresh':
            return 'stale' if state == 'stale' else 'refused'
        ha2 = _md5(f'{method}:{p["uri"]}')
        qop = p.get('qop', '')
        if qop == 'auth':
            expected = _md5(f'{self._ha1}:{p["nonce"]}:{p.get("nc", "")}:{p.get("cnonce", "")}:auth:{ha2}')
        elif not qop:   # RFC 2069 clients
            expected = _md5(f'{self._ha1}:{p["nonce"]}:{ha2}')
        else:
            return 'refused'
        user_ok = hmac.compare_digest(p['username'], self.username)
        return 'ok' if hmac.compare_digest(p['response'], expected) and user_ok else 'refused'
