"""Where the device token comes from, and which server URLs may carry it.

The token is a secret: it is read from a file (``token_file``) or the
environment ($LPR_DEVICE_TOKEN), never from a ROS parameter (those are
readable by anyone on the ROS graph). It is sent only over https/wss, with
the server's certificate verified, unless ``allow_insecure`` says the plain
http/ws link is a trusted LAN.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Mapping

from lpr_common.config import ConfigError
from lpr_common.secret_files import read_secret

TOKEN_ENV = 'LPR_DEVICE_TOKEN'


class SecurityError(ConfigError):
    """A configuration that would leak or mishandle the token; the message says what to do."""


def load_token(token_file: str = '', environ: Mapping[str, str] = os.environ) -> str:
    """The device token: from ``token_file`` when given, else $LPR_DEVICE_TOKEN, else ''."""
    return read_secret(token_file, TOKEN_ENV, 'token_file', environ, SecurityError)


def token_file_readable_by_others(token_file: str) -> bool:
    try:
        return bool(Path(token_file).expanduser().stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def is_tls(url: str) -> bool:
    return url.split('://', 1)[0].lower() in ('https', 'wss')


def check_url(url: str, token: str, allow_insecure: bool = False, ca_file: str = '') -> None:
    """Refuse to send a token in clear, or to verify against a CA file that is not there."""
    if token and not is_tls(url) and not allow_insecure:
        raise SecurityError(f'refusing to send the device token over plain {url.split("://")[0]}:// '
                            f'({url}): use https:// or wss://, or set allow_insecure for a trusted LAN')
    if ca_file and not Path(ca_file).expanduser().is_file():
        raise SecurityError(f'ca_file {ca_file} does not exist')


def http_url(url: str) -> str:
    """python-socketio takes http(s) URLs; ws(s) is the same server."""
    scheme, sep, rest = url.partition('://')
    return {'ws': 'http', 'wss': 'https'}.get(scheme.lower(), scheme) + sep + rest
