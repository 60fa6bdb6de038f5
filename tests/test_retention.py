import datetime as dt

from lpr_recorder.images import ImageStore
from lpr_recorder.journal import PENDING, SENT, Event, Journal, sqlite_url
from lpr_recorder.retention import Retention, RetentionPolicy

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)


def make(tmp_path, states, size=1000):
    j = Journal(sqlite_url(tmp_path / 'j.sqlite'))
    store = ImageStore(tmp_path / 'images')
    for i, state in enumerate(states):
        seen = NOW - dt.timedelta(days=len(states) - i)       # oldest first
        rel = f'cam0/{i}_frame.jpg'
        store.write(rel, bytes(size))
        j.add(Event(event_id=f'e{i}', camera_id='cam0', plate=f'P{i}', confidence=0.9, first_seen=seen,
                    last_seen=seen, best_seen=seen, created_at=seen, frame_path=rel, upload_state=state))
    return j, store


def plates(j):
    return sorted(e.plate for e in j.latest(100))


def test_age_limit_keeps_what_is_not_uploaded(tmp_path):
    j, store = make(tmp_path, [SENT, PENDING, SENT, SENT])   # 4, 3, 2, 1 days old
    report = Retention(j, store, RetentionPolicy(max_age_days=2.5)).enforce(NOW)
    assert plates(j) == ['P1', 'P2', 'P3']       # P0 (4 days, sent) gone; P1 (3 days, pending) kept
    assert report.deleted == 1 and report.deleted_pending == 0
    assert not (store.root / 'cam0/0_frame.jpg').exists() and (store.root / 'cam0/1_frame.jpg').exists()


def test_quota_deletes_oldest_uploaded_first(tmp_path):
    j, store = make(tmp_path, [PENDING, SENT, SENT, SENT])
    report = Retention(j, store, RetentionPolicy(max_image_bytes=2500)).enforce(NOW)
    assert plates(j) == ['P0', 'P3']             # oldest uploaded ones went; the pending one stays
    assert report.freed_bytes == 2000 and report.deleted_pending == 0


def test_the_floor_takes_uploaded_events_and_keeps_the_rest_by_default(tmp_path):
    j, store = make(tmp_path, [PENDING, PENDING, SENT])
    # 500 bytes free, floor 2500: 2000 bytes should go, but only one event is uploaded
    report = Retention(j, store, RetentionPolicy(min_free_bytes=2500), free_bytes=lambda: 500).enforce(NOW)
    assert plates(j) == ['P0', 'P1']             # the uploaded one went; nothing un-uploaded did
    assert report.deleted_for_floor == 1 and report.deleted_pending == 0 and report.short_bytes == 1000
    assert report.is_error and 'NOT YET UPLOADED' not in report.summary() and 'kept' in report.summary()


def test_deleting_unuploaded_events_takes_an_explicit_setting(tmp_path):
    j, store = make(tmp_path, [PENDING, PENDING, SENT])
    policy = RetentionPolicy(min_free_bytes=2500, delete_unuploaded=True)
    report = Retention(j, store, policy, free_bytes=lambda: 500).enforce(NOW)
    assert plates(j) == ['P1']                   # sent first, then the oldest pending
    assert report.deleted_pending == 1 and 'NOT YET UPLOADED' in report.summary() and report.is_error


def test_the_default_floor_is_relative_to_the_partition(tmp_path):
    """A 15 MB partition with 5 MB free must not lose events to a 1 GB floor."""
    from lpr_recorder.config import RecorderConfig
    from lpr_recorder.retention import policy_from_config
    j, store = make(tmp_path, [SENT, PENDING, SENT, PENDING, SENT, PENDING])
    policy = policy_from_config(RecorderConfig())
    retention = Retention(j, store, policy, free_bytes=lambda: 5_000_000, total_bytes=lambda: 15_000_000)
    report = retention.enforce(NOW)
    assert report.deleted == 0 and not report.is_error and retention.floor_bytes() == 750_000
    assert len(plates(j)) == 6
    nearly_full = Retention(j, store, policy, free_bytes=lambda: 749_000, total_bytes=lambda: 15_000_000)
    report = nearly_full.enforce(NOW)
    assert report.deleted_for_floor == 1 and report.deleted_pending == 0   # one uploaded event (1000 B) goes


def test_no_policy_deletes_nothing(tmp_path):
    j, store = make(tmp_path, [SENT, SENT])
    assert Retention(j, store, RetentionPolicy()).enforce(NOW).deleted == 0
    assert plates(j) == ['P0', 'P1']
