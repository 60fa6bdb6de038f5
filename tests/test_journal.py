import cv2
import datetime as dt
import sqlite3

import numpy as np
import pytest

from lpr_recorder.images import ImageStore, ImageStoreError
from lpr_recorder.journal import PENDING, SENT, Event, Journal, JournalError, sqlite_url
from lpr_recorder.passes import Observation, PassAggregator, PassConfig
from lpr_recorder.writer import EventWriter, Evidence

JPEG = cv2.imencode('.jpg', np.full((48, 64, 3), 90, np.uint8))[1].tobytes()   # a real frame

UTC = dt.timezone.utc


def head_revision() -> str:
    """The newest journal migration (the version a migrated journal ends at)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option('script_location', 'lpr_recorder:migrations')
    return ScriptDirectory.from_config(config).get_current_head()


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
    d = decision(payload=Evidence(JPEG, crop, 42))
    row = EventWriter(j, store, site_id='gate-1', gps=(48.15, 17.11)).commit(d)
    assert row.plate == 'AB12CDE' and row.site_id == 'gate-1' and row.read_count == 3
    assert (row.latitude, row.longitude) == (48.15, 17.11)
    assert row.processed_path.endswith('_processed.jpg') and (store.root / row.processed_path).is_file()
    assert row.frame_path.startswith('cam0/2025/06/15/') and row.frame_path.endswith('_frame.jpg')
    assert (store.root / row.frame_path).read_bytes() == JPEG
    assert (store.root / row.plate_path).stat().st_size > 0
    assert row.frame_seq == 42
    assert not list(store.root.rglob('.*.tmp'))


def test_writer_leaves_no_orphans_when_the_row_fails(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    store = ImageStore(tmp_path / 'images')

    def refuse(_row):
        raise JournalError('disk I/O error')
    j.add = refuse                       # the row cannot be written; the journal still answers
    with pytest.raises(JournalError):
        EventWriter(j, store).commit(decision(payload=Evidence(JPEG, None)))
    assert not [p for p in store.root.rglob('*') if p.is_file()]


def test_image_store_unusable_dir(tmp_path):
    (tmp_path / 'file').write_text('x')   # works as root too, unlike chmod
    store = ImageStore(tmp_path / 'file' / 'images')
    with pytest.raises(ImageStoreError, match='cannot create image directory'):
        store.check_writable()
    with pytest.raises(ImageStoreError, match='cannot write image'):
        store.write('cam0/x.jpg', b'data')


def test_migrations_upgrade_an_old_journal_and_keep_its_rows(tmp_path):
    from sqlalchemy import create_engine, inspect, text

    from lpr_recorder.journal import migrate
    url = sqlite_url(tmp_path / 'old.sqlite')
    old = create_engine(url)
    migrate(old, '0001')                         # a journal from the first release
    with old.begin() as c:
        c.execute(text(
            "INSERT INTO events (event_id, camera_id, site_id, plate, region, plate_format, confidence,"
            " candidates, read_count, direction, first_seen, last_seen, best_seen, frame_seq, box,"
            " frame_path, plate_path, vehicle_path, created_at, upload_state, upload_attempts, upload_error)"
            " VALUES ('e-old', 'cam0', '', 'AB12CDE', '', '', 0.9, '[]', 3, '', '2025-01-01 00:00:00',"
            " '2025-01-01 00:00:01', '2025-01-01 00:00:00', 0, '[]', '', '', '', '2025-01-01 00:00:02',"
            " 'pending', 0, '')"))
    old.dispose()
    j = Journal(url)                              # opening upgrades to the newest revision
    columns = {c['name'] for c in inspect(j.engine).get_columns('events')}
    assert {'latitude', 'longitude', 'processed_path'} <= columns
    (row,) = j.latest()
    assert row.plate == 'AB12CDE' and row.processed_path == '' and row.latitude is None
    with j.engine.connect() as c:
        assert c.execute(text('SELECT version_num FROM alembic_version')).scalar() == head_revision()
    j.close()


def test_model_and_migrations_agree(tmp_path):
    """The newest migration builds exactly the schema the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lpr_recorder.journal import Base
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    with j.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == [], diff
    j.close()


def test_a_journal_from_before_migrations_is_adopted(tmp_path):
    from sqlalchemy import create_engine, text

    url = sqlite_url(tmp_path / 'early.sqlite')
    early = create_engine(url)
    with early.begin() as c:   # what an early build made with create_all: revision 0001's columns
        c.execute(text('CREATE TABLE events (id INTEGER PRIMARY KEY, event_id VARCHAR(36) NOT NULL, '
                       "camera_id VARCHAR(64) NOT NULL, site_id VARCHAR(64) NOT NULL DEFAULT '', "
                       "plate VARCHAR(32) NOT NULL, region VARCHAR(8) NOT NULL DEFAULT '', "
                       "plate_format VARCHAR(32) NOT NULL DEFAULT '', confidence FLOAT NOT NULL, "
                       "candidates JSON NOT NULL DEFAULT '[]', read_count INTEGER NOT NULL DEFAULT 0, "
                       "direction VARCHAR(16) NOT NULL DEFAULT '', first_seen DATETIME NOT NULL, "
                       'last_seen DATETIME NOT NULL, best_seen DATETIME NOT NULL, '
                       "frame_seq BIGINT NOT NULL DEFAULT 0, box JSON NOT NULL DEFAULT '[]', "
                       "frame_path TEXT NOT NULL DEFAULT '', plate_path TEXT NOT NULL DEFAULT '', "
                       "vehicle_path TEXT NOT NULL DEFAULT '', created_at DATETIME NOT NULL, "
                       "upload_state VARCHAR(16) NOT NULL DEFAULT 'pending', "
                       "upload_attempts INTEGER NOT NULL DEFAULT 0, upload_error TEXT NOT NULL DEFAULT '', "
                       'uploaded_at DATETIME)'))
    early.dispose()
    j = Journal(url)
    with j.engine.connect() as c:
        assert c.execute(text('SELECT version_num FROM alembic_version')).scalar() == head_revision()
    j.close()


def test_a_failed_retry_keeps_the_images_of_a_committed_row(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    store = ImageStore(tmp_path / 'images')
    writer = EventWriter(j, store)
    d = decision(payload=Evidence(JPEG, None))
    row = writer.commit(d)
    original_add = j.add

    def ambiguous(_row):
        raise JournalError('database is locked')
    j.add = ambiguous                      # the retry's row write fails...
    with pytest.raises(JournalError):
        writer.commit(d)
    j.add = original_add
    assert (store.root / row.frame_path).is_file()   # ...but the committed row keeps its image


def test_a_row_the_journal_refuses_for_good_is_a_permanent_error_and_can_be_dead_lettered(tmp_path):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    now = dt.datetime.now(dt.timezone.utc)
    bad = Event(event_id='e1', camera_id='cam0', plate='AB12CDE', confidence=None, first_seen=now,
                last_seen=now, best_seen=now, created_at=now)          # NOT NULL column
    with pytest.raises(JournalError) as err:
        j.add(bad)
    assert err.value.permanent
    naive = Event(event_id='e2', camera_id='cam0', plate='AB12CDE', confidence=0.9, first_seen=now.replace(tzinfo=None),
                  last_seen=now, best_seen=now, created_at=now)
    with pytest.raises(JournalError) as err:
        j.add(naive)
    assert err.value.permanent
    j.dead_letter('e1', 'cam0', 'AB12CDE', 'NOT NULL constraint failed: events.confidence', {'text': 'AB12CDE'})
    (letter,) = j.dead_letters()
    assert letter.event_id == 'e1' and 'NOT NULL' in letter.reason and letter.detail == {'text': 'AB12CDE'}
    assert letter.created_at.tzinfo is not None
    j.close()


def test_writer_stores_the_vehicle_crop_cut_from_the_frame(tmp_path):
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[30:90, 40:120] = 200                      # the vehicle
    jpeg = cv2.imencode('.jpg', frame)[1].tobytes()
    writer = EventWriter(Journal(sqlite_url(tmp_path / 'j.sqlite')), ImageStore(tmp_path / 'img'))
    row = writer.commit(decision(payload=Evidence(jpeg, None, 7, vehicle_box=(40.0, 30.0, 80.0, 60.0))))
    assert row.vehicle_path.endswith('_vehicle.jpg') and row.plate_path == ''
    crop = cv2.imread(str(tmp_path / 'img' / row.vehicle_path))
    assert crop.shape == (60, 80, 3) and crop.mean() > 180


def test_writer_stores_no_vehicle_without_a_box_a_frame_or_a_box_inside_it(tmp_path):
    writer = EventWriter(Journal(sqlite_url(tmp_path / 'j.sqlite')), ImageStore(tmp_path / 'img'))
    cases = [Evidence(JPEG, None), Evidence(None, None, vehicle_box=(0, 0, 10, 10)),
             Evidence(b'not a jpeg', None, vehicle_box=(0, 0, 10, 10)),
             Evidence(JPEG, None, vehicle_box=(500.0, 500.0, 50.0, 50.0))]
    for i, evidence in enumerate(cases):
        row = writer.commit(decision(payload=evidence, t0=1_750_000_000.0 + i))
        assert row.vehicle_path == '', evidence
