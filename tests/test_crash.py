"""Crash safety of the journal + image store: SIGKILL the recorder at random
moments, again and again on the same data, then check nothing is torn, doubled
or lost (the longer run is tools/crash_test.py), and unit tests of recover()."""
import datetime as dt
import os
import random

import pytest

from lpr_recorder.images import ImageStore
from lpr_recorder.journal import Event, Journal, sqlite_url
from lpr_recorder.recovery import IMAGE_COLUMNS, recover
from lpr_tools.torture import check, kill_loop, open_recorder, synthetic_decision, synthetic_evidence
from lpr_recorder.writer import EventWriter

KILLS = int(os.environ.get('LPR_CRASH_KILLS', '20'))
UTC = dt.timezone.utc


def test_sigkill_loop_loses_and_tears_nothing(tmp_path):
    rng = random.Random(int(os.environ.get('LPR_CRASH_SEED', '1234')))
    run = kill_loop(KILLS, tmp_path, rng)
    res = check(tmp_path, run.acked)
    assert res.integrity == 'ok'
    assert res.rows >= len(run.acked) > 0, 'the child never committed: kills too early?'
    assert run.phases['committing'] + run.phases['after a commit'] + run.phases['idle'] > 0, run.phases
    assert (res.missing_images, res.torn_images, res.altered_images, res.passes_twice, res.lost_acked,
            res.leftover_files) == (0, 0, 0, 0, 0, 0), res.examples
    assert res.images_checked >= 2 * res.rows  # frame + plate crop (+ processed crop) each


def test_the_checks_can_fail(tmp_path):
    """A pass stored twice, an image changed after the acknowledgement and a
    stray file are each caught (the checks are not vacuous)."""
    import dataclasses

    journal, store = open_recorder(tmp_path)
    writer = EventWriter(journal, store)
    d = synthetic_decision(synthetic_evidence(1), 1)
    row = writer.commit(d)
    acked = {d.event_id: {'plate': '0' * 64}}                       # not the bytes written
    writer.commit(dataclasses.replace(d, event_id='another-id'))    # the same pass again
    (store.root / 'cam0').mkdir(exist_ok=True)
    (store.root / 'cam0' / '.torn_frame.jpg.tmp').write_bytes(b'\xff\xd8')
    journal.close()
    res = check(tmp_path, acked)
    assert res.passes_twice == 1 and res.altered_images == 1 and res.tmp_before == 1
    assert res.final_tmp_removed == 1 and res.leftover_files == 0 and row.plate_path


def _row(event_id, frame='', plate=''):
    now = dt.datetime(2025, 6, 2, 18, 51, 18, tzinfo=UTC)
    return Event(event_id=event_id, camera_id='cam0', plate='AB12CDE', confidence=0.9,
                 first_seen=now, last_seen=now, best_seen=now, created_at=now,
                 frame_path=frame, plate_path=plate)


def test_recover_removes_tmp_and_orphans_and_reports_missing(tmp_path):
    journal = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    store = ImageStore(tmp_path / 'images')
    writer = EventWriter(journal, store)
    kept = writer.commit(synthetic_decision(synthetic_evidence(), 1))
    kept_paths = [getattr(kept, c.name) for c in IMAGE_COLUMNS]
    store.write('cam0/2025/06/02/orphan_frame.jpg', b'\xff\xd8orphan\xff\xd9')  # row never committed
    tmp = store.root / 'cam0/2025/06/02/.x_plate.jpg.tmp'                     # interrupted write
    tmp.write_bytes(b'\xff\xd8torn')
    other = store.root / 'cam0/notes.txt'                                      # not ours: left alone
    other.write_text('keep')
    journal.add(_row('gone-1', frame='cam0/2025/06/02/gone_frame.jpg'))
    journal.add(_row('no-images'))

    report = recover(journal, store)

    assert (report.rows, report.files) == (3, 1 + len([p for p in kept_paths if p]))
    assert (report.tmp_removed, report.orphans_removed) == (1, 1)
    assert report.rows_missing_images == 1 and report.missing_examples == ['gone-1']
    assert not tmp.exists() and not (store.root / 'cam0/2025/06/02/orphan_frame.jpg').exists()
    assert other.exists()
    assert kept.frame_path and kept.plate_path
    assert all((store.root / p).exists() for p in kept_paths if p)
    assert journal.count() == 3  # rows are never deleted
    assert '1 orphan' in report.summary() and 'gone-1' in report.summary()
    again = recover(journal, store)
    assert (again.tmp_removed, again.orphans_removed, again.rows_missing_images) == (0, 0, 1)
    journal.close()


def test_recover_on_a_fresh_store(tmp_path):
    journal = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    report = recover(journal, ImageStore(tmp_path / 'missing'))
    assert report.clean and report.rows == 0 and report.files == 0
    journal.close()


def test_new_directories_are_fsynced(tmp_path, monkeypatch):
    """The parent of every directory a write creates is fsynced (power-cut durability)."""
    import lpr_recorder.images as images
    synced = []
    real = images._fsync_dir
    monkeypatch.setattr(images, '_fsync_dir', lambda p: (synced.append(p), real(p)))
    store = ImageStore(tmp_path / 'images')
    store.write('cam0/2025/06/02/a.jpg', b'x')
    root = store.root
    assert set(synced) >= {tmp_path, root, root / 'cam0', root / 'cam0/2025', root / 'cam0/2025/06',
                           root / 'cam0/2025/06/02'}
    synced.clear()
    store.write('cam0/2025/06/02/b.jpg', b'x')
    assert synced == [root / 'cam0/2025/06/02']  # existing directories: only the file's own
    assert (root / 'cam0/2025/06/02/b.jpg').read_bytes() == b'x'


class _Crash(BaseException):
    pass


def test_crash_mid_migration_leaves_an_openable_journal(tmp_path, monkeypatch):
    """A first start killed half-way through creating the schema must not leave
    tables without their version stamp (the next start would fail for good)."""
    from alembic.operations import Operations
    real = Operations.create_index
    calls = []

    def crash_on_third(self, *a, **k):
        calls.append(a)
        if len(calls) == 3:
            raise _Crash()
        return real(self, *a, **k)

    monkeypatch.setattr(Operations, 'create_index', crash_on_third)
    url = sqlite_url(tmp_path / 'j.sqlite')
    try:
        Journal(url)
    except _Crash:
        pass
    assert len(calls) == 3
    monkeypatch.setattr(Operations, 'create_index', real)
    journal = Journal(url)  # raised 'table events already exists' before the fix
    journal.add(_row('after-crash'))
    assert journal.count() == 1
    journal.close()


@pytest.mark.graph
def test_killing_the_recorder_and_bridge_in_a_running_graph(tmp_path):
    """The real nodes, SIGKILLed while the graph runs: the runner starts them
    again, and every event published on the topic is stored once, whole."""
    from lpr_tools.crash import graph_kill_loop
    run = graph_kill_loop(tmp_path, 2, random.Random(5), gap_s=(3.0, 5.0), log=lambda *_: None)
    assert run.error == '' and [name for name, _ in run.kills] and run.respawns == 2, run
    assert run.exit_code == 0
    res = check(tmp_path, {event_id: {} for event_id in run.events})
    assert res.integrity == 'ok' and res.rows >= len(run.events) > 0
    assert (res.missing_images, res.torn_images, res.passes_twice, res.lost_acked,
            res.leftover_files) == (0, 0, 0, 0, 0), res.examples
    assert run.shm_after_mb <= run.shm_before_mb + 1
