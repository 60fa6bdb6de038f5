"""Secrets (device tokens, camera passwords) come from a file or the
environment, never from a ROS parameter: any local process can read
parameters through the parameter service."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from lpr_common.config import ConfigError


def read_secret(secret_file: str, env_name: str, what: str, environ: Mapping[str, str] = os.environ,
                error: type[ConfigError] = ConfigError) -> str:
    """From ``secret_file`` when given (stripped; an unreadable or empty file is
    ``error``), else ``$env_name``, else ''. ``what`` names the file's parameter."""
    if not secret_file:
        return environ.get(env_name, '').strip()
    path = Path(secret_file).expanduser()
    try:
        secret = path.read_text(encoding='utf-8').strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f'cannot read {what} {path}: {exc}') from None
    if not secret:
        raise error(f'{what} {path} is empty')
    return secret
