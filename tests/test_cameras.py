"""Several cameras in one graph: per-camera gating (region, plate size),
fair turns between cameras, and the camera sections of the params file."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import yaml

from lpr import graph
from lpr.params import check_params
from lpr_common.config import ConfigError
from lpr_common.worker import Worker
from lpr_detector.base import Box, Detector
from lpr_detector.finder import PlateFinder
from lpr_detector.gating import Gate, Gates, parse_roi


class RecordingDetector(Detector):
    """Returns fixed boxes in the coordinates of the image it is given, and
    remembers the shapes it was given."""
    name = 'recording'

    def __init__(self, boxes):
        self.boxes = boxes
        self.shapes = []

    def detect(self, image):
        self.shapes.append(image.shape[:2])
        return list(self.boxes)


# -- gating -------------------------------------------------------------------------

def test_roi_parses_and_refuses_bad_entries():
    camera, roi = parse_roi('gate_in: 0.1,0.4 0.9,0.4 0.9,1 0.1,1')
    assert camera == 'gate_in' and len(roi.points) == 4
    assert parse_roi('0,0 1,0 1,1')[0] == '*'
    for bad in ['gate: 0.1,0.2 0.3,0.4', 'gate: 0.1,0.2 0.3 0.5,0.5', 'gate: 0,0 1,0 1.5,1']:
        with pytest.raises(ConfigError, match='roi'):
            parse_roi(bad)
    with pytest.raises(ConfigError, match='CAMERA=PIXELS'):
        Gates(min_widths=['gate_in:40'])


def test_gates_per_camera_fall_back_to_the_shared_region():
    gates = Gates(['0,0.5 1,0.5 1,1 0,1', 'gate_out: 0,0 0.5,0 0.5,1 0,1'], ['gate_in=40'])
    assert gates.for_camera('gate_out').roi.points[1] == (0.5, 0.0)
    assert gates.for_camera('gate_in').roi.points[0] == (0.0, 0.5)   # shared region, own width
    assert gates.for_camera('gate_in').min_plate_width == 40
    assert gates.for_camera('other').min_plate_width is None


def test_finder_searches_only_the_region_and_keeps_plates_whose_centre_is_inside():
    # Boxes in the coordinates of the searched area (the region's bounding box).
    inside = Box(300, 40, 80, 20, 0.9)
    outside = Box(10, 5, 60, 20, 0.8)
    detector = RecordingDetector([inside, outside])
    finder = PlateFinder(detector, min_plate_width=16)
    frame = np.zeros((720, 1280, 3), np.uint8)
    # lower half of the frame, right of a slanted left edge
    gate = Gate(Gates(['0.3,0.5 1,0.5 1,1 0.2,1']).for_camera('x').roi)
    found = finder.find(frame, gate)
    x0, y0, x1, y1 = gate.roi.bounds(1280, 720)
    assert detector.shapes == [(y1 - y0, x1 - x0)]           # only the region's box was searched
    assert [(f.box.x, f.box.y) for f in found] == [(300 + x0, 40 + y0)]   # shifted back to the frame
    assert found[0].crop.shape[1] > 80                         # cut from the whole frame, padded


def test_finder_drops_plates_cut_by_the_region_border_and_applies_the_cameras_width():
    detector = RecordingDetector([Box(0, 50, 80, 20, 0.9), Box(300, 50, 30, 10, 0.9)])
    finder = PlateFinder(detector, min_plate_width=16)
    frame = np.zeros((720, 1280, 3), np.uint8)
    roi = Gates(['0.2,0.2 0.8,0.2 0.8,0.8 0.2,0.8']).for_camera('x').roi
    assert [f.box.width for f in finder.find(frame, Gate(roi))] == [30]   # the first touches the border
    assert finder.find(frame, Gate(roi, min_plate_width=40)) == []
    assert len(finder.find(frame)) == 1   # no gate: whole frame; the 80 px box is at the frame edge


# -- fair turns -----------------------------------------------------------------------

def test_keyed_worker_serves_cameras_in_turns_so_a_busy_one_cannot_starve_a_quiet_one():
    handled, gate = [], threading.Event()

    def handle(item):
        gate.wait(5)
        handled.append(item)

    worker = Worker(handle, 'fair', maxsize=1, key=lambda item: item[0])
    worker.submit(('busy', 0))        # being handled while the rest arrive
    while not worker._busy:
        threading.Event().wait(0.01)
    for i in range(1, 50):
        worker.submit(('busy', i))
    worker.submit(('quiet', 0))
    worker.submit(('third', 0))
    gate.set()
    assert worker.wait_idle(5)
    worker.stop()
    assert handled[0] == ('busy', 0)
    assert sorted(handled[1:]) == [('busy', 49), ('quiet', 0), ('third', 0)]   # newest of each, once
    assert worker.dropped == 48


# -- params file and graph ------------------------------------------------------------

def _write(tmp_path, data) -> object:
    path = tmp_path / 'params.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


def test_camera_sections_make_one_camera_node_each_on_its_own_topic(tmp_path):
    path = _write(tmp_path, {'/**/camera': {'ros__parameters': {}},
                             '/**/camera_gate_in': {'ros__parameters': {'source': 'synthetic:1'}},
                             '/**/camera_gate_out': {'ros__parameters': {'source': 'synthetic:2'}}})
    names = graph.camera_names(path)
    assert names == ['camera_gate_in', 'camera_gate_out']
    specs = graph.camera_specs(names)
    assert [s.remaps for s in specs] == [(('image_raw', 'cameras/gate_in/image_raw'),),
                                         (('image_raw', 'cameras/gate_out/image_raw'),)]
    extra = graph.overrides(cameras=names)
    assert extra['detector']['cameras'] == ['gate_in', 'gate_out']
    assert extra['camera_gate_out']['camera_id'] == 'gate_out'
    assert check_params(path, overrides=extra) == []
    with pytest.raises(ValueError, match='set each one'):
        graph.overrides(source='x.mp4', cameras=names)
    assert graph.camera_names(_write(tmp_path, {'/**/camera': {'ros__parameters': {}}})) == ['camera']
    assert graph.camera_specs(['camera']) == [graph.NODES[0]]


def test_camera_sections_are_checked_like_the_camera(tmp_path):
    path = _write(tmp_path, {'/**/camera': {'ros__parameters': {'fps': 5.0}},
                             '/**/camera_gate_in': {'ros__parameters': {'sourse': 'x', 'camera_id': 'other'}},
                             '/**/detector': {'ros__parameters': {'roi': ['gate_in: 0,0 1,1']}}})
    problems = check_params(path, overrides=graph.overrides(cameras=graph.camera_names(path)))
    text = '\n'.join(problems)
    assert "/**/camera: no such node when the file has camera_<id> sections" in text
    assert "camera_id is the section name's 'gate_in'" in text
    assert "camera_gate_in: unknown parameter 'sourse' (did you mean 'source'?)" in text
    assert 'a region needs at least 3 points' in text


@pytest.mark.graph
def test_two_cameras_side_by_side_in_one_graph_each_with_its_events(tmp_path):
    import sqlite3

    from test_graph import lpr
    scene = {'fps': 10.0}
    path = _write(tmp_path, {
        '/**/camera_gate_in': {'ros__parameters': {'source': 'synthetic:7', 'synthetic_plates': ['UK:AB12CDE'],
                                                   **scene}},
        '/**/camera_gate_out': {'ros__parameters': {'source': 'synthetic:3',
                                                    'synthetic_plates': ['KZ:123ABC02', 'BR:ABC1D23'], **scene}},
        '/**/detector': {'ros__parameters': {'min_plate_width_by_camera': ['gate_in=20']}}})
    data = tmp_path / 'data'
    result = lpr(['run', '--params', str(path), '--data-dir', str(data), '--no-bridge'], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'stopping the graph: source ended' in result.stderr
    con = sqlite3.connect(data / 'journal.sqlite')
    rows = con.execute('SELECT camera_id, plate FROM events ORDER BY id').fetchall()
    con.close()
    by_camera = {cam: [p for c, p in rows if c == cam] for cam in ('gate_in', 'gate_out')}
    assert by_camera == {'gate_in': ['AB12CDE'], 'gate_out': ['123ABC02', 'ABC1D23']}, \
        result.stdout + result.stderr[-2000:]
