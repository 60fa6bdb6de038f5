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
