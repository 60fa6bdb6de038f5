"""The journal, unchanged, on a real PostgreSQL server started here on
127.0.0.1 (skipped when the PostgreSQL server binaries are not installed)."""
from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from lpr_recorder.images import ImageStore
from lpr_recorder.journal import PENDING, SENT, Journal
from lpr_recorder.passes import Observation, PassAggregator, PassConfig
from lpr_recorder.recovery import recover
from lpr_recorder.retention import Retention, RetentionPolicy
from lpr_recorder.writer import EventWriter, Evidence


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f'/usr/lib/postgresql/*/bin/{name}')) or [shutil.which(name)]
    return found[-1] if found and found[-1] else None


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: use the distribution's postgres user then.
    return ['runuser', '-u', 'postgres', '--'] + cmd if os.geteuid() == 0 else cmd


@pytest.fixture(scope='module')
def postgres_url():
    initdb, pg_ctl = _bin('initdb'), _bin('pg_ctl')
    if not initdb or not pg_ctl:
        pytest.skip('PostgreSQL server binaries not installed (apt install postgresql)')
    # Not under pytest's tmp dir: it is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix='lpr-pg-'))
    data = base / 'data'
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, 'postgres')
        shutil.chown(data, 'postgres')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    subprocess.run(_as_server_user([initdb, '-D', str(data), '-A', 'trust', '-U', 'lpr']),
                   check=True, capture_output=True)
    options = f'-h 127.0.0.1 -p {port} -k {data}'
    subprocess.run(_as_server_user([pg_ctl, '-D', str(data), '-o', options, '-w', '-l', str(data / 'log'),
                                    'start']), check=True, capture_output=True)
    try:
        yield f'postgresql+psycopg://lpr@127.0.0.1:{port}/postgres'
    finally:
        subprocess.run(_as_server_user([pg_ctl, '-D', str(data), '-m', 'fast', '-w', 'stop']),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_journal_on_postgresql(postgres_url, tmp_path):
    j = Journal(postgres_url)                     # migrations run on PostgreSQL too
    store = ImageStore(tmp_path / 'images')
    agg = PassAggregator(PassConfig(preview_reads=0))
    for i in range(3):
        agg.add(Observation('cam0', 1_750_000_000_000_000_000 + i * 10**8, 'AB12CDE', 0.9,
                            (10, 20, 100, 30), payload=Evidence(cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))[1].tobytes(), None)))
    (d,) = agg.flush()
    row = EventWriter(j, store, site_id='gate', gps=(48.1, 17.1)).commit(d)
    again = Journal(postgres_url)                 # a second process: already current
    (stored,) = again.latest()
    assert stored.plate == 'AB12CDE' and stored.latitude == 48.1
    assert stored.best_seen.tzinfo is not None and stored.best_seen == row.best_seen
    assert [e.event_id for e in again.pending()] == [d.event_id]
    again.mark(d.event_id, SENT)
    assert j.count(PENDING) == 0 and j.count(SENT) == 1
    assert recover(j, store).clean
    report = Retention(j, store, RetentionPolicy(max_age_days=1)).enforce(
        dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    assert report.deleted == 1 and j.count() == 0 and not (store.root / row.frame_path).exists()
    j.close()
    again.close()
