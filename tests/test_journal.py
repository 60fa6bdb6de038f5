import datetime as dt
import sqlite3

import numpy as np
import pytest

from lpr_recorder.images import ImageStore, ImageStoreError
from lpr_recorder.journal import PENDING, SENT, Event, Journal, JournalError, sqlite_url
from lpr_recorder.passes import Observation, PassAggregator, PassConfig
from lpr_recorder.writer import EventWriter, Evidence

UTC = dt.timezone.utc


def decision(text='AB12CDE', payload=None, t0=1_750_000_000.123):
    agg = PassAggregator(PassConfig(preview_reads=0))
    for i in range(3):
        agg.add(Observation('cam0', int((t0 + 0.1 * i) * 1e9), text, 0.9, (10, 20, 100, 30),
                            payload=payload))
    (d,) = agg.flush()
    return d


def test_sqlite_pragmas_and_roundtrip(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    now = dt.datetime(2025, 6, 2, 18, 51, 18, 123000, tzinfo=UTC)
    row = Event(event_id='e1', camera_id='cam0', plate='AB12CDE', confidence=0.9, first_seen=now,
                last_seen=now, best_seen=now, created_at=now)
    j.add(row)
    j.add(Event(event_id='e1', camera_id='cam0', plate='OTHER', confidence=0.1, first_seen=now,
                last_seen=now, best_seen=now, created_at=now))  # idempotent by event_id
    (stored,) = j.latest()
    assert stored.plate == 'AB12CDE' and stored.best_seen == now and stored.best_seen.tzinfo is not None
    assert j.count(PENDING) == 1
    j.mark('e1', SENT)
    assert j.count(PENDING) == 0 and j.count(SENT) == 1
    j.close()
    con = sqlite3.connect(tmp_path / 'j.sqlite')
    assert con.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'


def test_naive_datetimes_are_refused(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    naive = dt.datetime(2025, 1, 1)
    with pytest.raises(Exception, match='naive'):
        j.add(Event(event_id='e', camera_id='c', plate='P', confidence=1, first_seen=naive,
                    last_seen=naive, best_seen=naive, created_at=naive))


def test_unopenable_journal_is_a_clear_error(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(JournalError, match='cannot open journal'):
        Journal(sqlite_url(blocker / 'j.sqlite'))


def test_writer_stores_images_then_row(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    store = ImageStore(tmp_path / 'images')
    crop = np.full((30, 100, 3), 200, np.uint8)
    d = decision(payload=Evidence(b'\xff\xd8fake-jpeg', crop, 42))
    row = EventWriter(j, store, site_id='gate-1').commit(d)
    assert row.plate == 'AB12CDE' and row.site_id == 'gate-1' and row.read_count == 3
    assert row.frame_path.startswith('cam0/2025/06/15/') and row.frame_path.endswith('_frame.jpg')
    assert (store.root / row.frame_path).read_bytes() == b'\xff\xd8fake-jpeg'
    assert (store.root / row.plate_path).stat().st_size > 0
    assert row.frame_seq == 42
    assert not list(store.root.rglob('.*.tmp'))


def test_writer_leaves_no_orphans_when_the_row_fails(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    store = ImageStore(tmp_path / 'images')
    j.close()
    (tmp_path / 'j.sqlite').unlink()
    (tmp_path / 'j.sqlite').mkdir()  # the database path is now a directory: the commit fails
    j2 = Journal.__new__(Journal)
    j2.url, j2.engine, j2._sessions = j.url, j.engine, j._sessions
    with pytest.raises(JournalError):
        EventWriter(j2, store).commit(decision(payload=Evidence(b'jpeg', None)))
    assert not [p for p in store.root.rglob('*') if p.is_file()]


def test_image_store_unusable_dir(tmp_path):
    (tmp_path / 'file').write_text('x')   # works as root too, unlike chmod
    store = ImageStore(tmp_path / 'file' / 'images')
    with pytest.raises(ImageStoreError, match='cannot create image directory'):
        store.check_writable()
    with pytest.raises(ImageStoreError, match='cannot write image'):
        store.write('cam0/x.jpg', b'data')
