"""Shared test fixtures. The shared evaluation data (../shared next to the
repository) is optional: tests that need it skip when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'

# DDS traffic of the tests stays on this host.
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


@pytest.fixture(scope='session', autouse=True)
def model_cache(tmp_path_factory):
    """The tests' model cache: what `lpr models install` built (the detector),
    plus the plate reader from ../shared/models-reference when it exists, so
    the suite runs the same with or without a reader a user installed."""
    from lpr_common.paths import model_dir
    real = model_dir()
    cache = tmp_path_factory.mktemp('models')
    if real.is_dir():
        for f in real.iterdir():
            if f.is_file() and not f.name.startswith('cct_'):
                (cache / f.name).symlink_to(f)
    reader = SHARED / 'models-reference' / 'cct_xs_v1_global.onnx'
    if reader.is_file():
        (cache / reader.name).symlink_to(reader)
    os.environ['LPR_MODEL_DIR'] = str(cache)
    yield cache
    os.environ.pop('LPR_MODEL_DIR', None)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'shared evaluation data not present: {path}')
    return path


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An isolated LPR_DATA_DIR for journal and images."""
    d = tmp_path / 'data'
    monkeypatch.setenv('LPR_DATA_DIR', str(d))
    return d
