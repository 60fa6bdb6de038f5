"""The recorder's spool: decided events kept on disk while writes fail."""
import numpy as np
import pytest

from lpr_recorder.spool import Spool, SpoolError
from lpr_recorder.writer import Evidence

from test_journal import decision


def test_a_spooled_decision_comes_back_whole(tmp_path):
    crop = np.random.default_rng(1).integers(0, 255, (40, 160, 3), dtype=np.uint8)
    d = decision('AB12CDE', payload=Evidence(b'\xff\xd8 jpeg bytes \xff\xd9', crop, 42, (10.0, 20.0, 300.0, 200.0)))
    spool = Spool(tmp_path / 'spool')
    path = spool.put(d)
    assert spool.paths() == [path] and len(spool) == 1
    back = spool.load(path)
    assert back.best.payload.frame_jpeg == d.best.payload.frame_jpeg
    np.testing.assert_array_equal(back.best.payload.plate_crop, crop)
    assert back.best.payload.frame_seq == 42
    assert back.best.payload.vehicle_box == (10.0, 20.0, 300.0, 200.0)
    assert (back.event_id, back.text, back.confidence, back.candidates, back.best.box) == \
           (d.event_id, d.text, d.confidence, d.candidates, d.best.box)
    assert back.best.char_confidences == d.best.char_confidences
    spool.remove(path)
    assert len(spool) == 0


def test_a_decision_without_images_and_the_order_of_the_spool(tmp_path):
    spool = Spool(tmp_path)
    first, second = decision('AB12CDE'), decision('XY34ZZZ')
    spool.put(first)
    spool.put(second)
    assert [spool.load(p).text for p in spool.paths()] == ['AB12CDE', 'XY34ZZZ']
    assert spool.load(spool.paths()[0]).best.payload is None


def test_an_unreadable_file_is_set_aside_and_counted(tmp_path):
    spool = Spool(tmp_path)
    path = spool.put(decision())
    path.write_bytes(b'torn')
    with pytest.raises(SpoolError, match='unreadable'):
        spool.load(path)
    assert spool.bad == 1 and spool.paths() == [] and path.with_name(path.name + '.bad').is_file()


def test_a_spool_that_cannot_be_written_says_so(tmp_path):
    spool = Spool(tmp_path / 'spool')
    (tmp_path / 'spool').rmdir()
    (tmp_path / 'spool').write_text('not a directory')
    with pytest.raises(SpoolError, match='cannot spool'):
        spool.put(decision())
