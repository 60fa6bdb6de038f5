"""Where lpr keeps models and data when the parameters do not say."""
from __future__ import annotations

import os
from pathlib import Path


def model_dir() -> Path:
    """Model cache: $LPR_MODEL_DIR, else $XDG_CACHE_HOME/lpr/models (~/.cache/lpr/models)."""
    if os.environ.get('LPR_MODEL_DIR'):
        return Path(os.environ['LPR_MODEL_DIR']).expanduser()
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(Path.home(), '.cache')
    return Path(cache) / 'lpr' / 'models'


def data_dir() -> Path:
    """Journal and images: $LPR_DATA_DIR, else $XDG_DATA_HOME/lpr (~/.local/share/lpr)."""
    if os.environ.get('LPR_DATA_DIR'):
        return Path(os.environ['LPR_DATA_DIR']).expanduser()
    data = os.environ.get('XDG_DATA_HOME') or os.path.join(Path.home(), '.local', 'share')
    return Path(data) / 'lpr'


def resolve(path: str, base: Path) -> Path:
    """An absolute path as given, a relative one under ``base``; '~' expanded."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p
