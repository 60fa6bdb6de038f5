"""The recorder's door (lpr_recorder.validate): what can never be stored is
refused with a reason, what an event can do without is dropped and noted."""
import math

import cv2
import numpy as np
import pytest

from lpr_recorder.validate import CAMERA_MAX, PLATE_MAX, BadRead, clean_read, is_image


@pytest.mark.parametrize('kwargs, reason', [
    ({'confidence': math.nan}, 'confidence'),
    ({'confidence': math.inf}, 'confidence'),
    ({'confidence': 1.5}, 'confidence'),
    ({'text': 'A' * (PLATE_MAX + 1)}, 'longer than'),
    ({'text': 'AB\x0012'}, 'control'),
    ({'camera': 'c' * (CAMERA_MAX + 1)}, 'camera id'),
    ({'camera': ''}, 'camera id'),
])
def test_reads_that_can_never_be_stored_are_refused_with_the_reason(kwargs, reason):
    args = {'camera': 'cam0', 'text': 'AB12CDE', 'confidence': 0.9, **kwargs}
    with pytest.raises(BadRead, match=reason):
        clean_read(**args)


def test_bad_parts_are_dropped_and_noted():
    r = clean_read('cam0', 'AB12CDE', 0.9, char_confidences=[0.9, math.nan] + [0.9] * 5,
                   box=(1.0, math.inf, 3.0, 4.0), region='R' * 20, fmt='uk')
    assert r.char_confidences == () and r.box == (0.0, 0.0, 0.0, 0.0) and r.region == '' and r.format == 'uk'
    assert len(r.dropped) == 3
    good = clean_read('cam0', 'AB12CDE', 0.9, [0.9] * 7, (1, 2, 3, 4), 'UK', 'uk-2001')
    assert good.dropped == () and good.box == (1.0, 2.0, 3.0, 4.0)


def test_only_decodable_images_are_evidence():
    ok, jpeg = cv2.imencode('.jpg', np.full((40, 60, 3), 128, np.uint8))
    assert is_image(jpeg.tobytes())
    assert not is_image(b'not a jpeg at all') and not is_image(b'') and not is_image(None)
    assert not is_image(jpeg.tobytes()[:30])   # a torn file


def test_the_writer_stores_an_event_without_a_frame_that_is_not_an_image(tmp_path):
    from lpr_recorder.images import ImageStore
    from lpr_recorder.journal import Journal
    from lpr_recorder.passes import Observation, PassAggregator, PassConfig
    from lpr_recorder.writer import Evidence, EventWriter
    journal = Journal(f'sqlite:///{tmp_path / "j.sqlite"}')
    writer = EventWriter(journal, ImageStore(tmp_path / 'images'))
    agg = PassAggregator(PassConfig(preview_reads=0))
    crop = np.full((30, 100, 3), 200, np.uint8)
    for i in range(3):
        agg.add(Observation('cam0', i * 10**8, 'AB12CDE', 0.9, (10, 10, 100, 30),
                            payload=Evidence(b'not a jpeg at all', crop, i)))
    (decision,) = agg.flush()
    row = writer.commit(decision)
    assert row.frame_path == '' and row.plate_path and writer.bad_frames == 1
    journal.close()
