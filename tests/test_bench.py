"""`lpr bench`: the in-process part on a few synthetic frames (structure and
positive figures only: no timing thresholds, the machine is shared), the
graph figures from a status as the runner keeps it, and the recorder's
latency window."""
from __future__ import annotations

import json
import types

import pytest

from lpr_tools import bench
from lpr_recorder.node import LatencyWindow


@pytest.fixture(scope='module')
def in_process():
    return bench.bench_in_process('synthetic:1', 5)


def test_in_process_stages_are_measured(in_process):
    assert in_process.frames == 5
    assert (in_process.width, in_process.height) == (1280, 720)
    # starts with a plate in view (recall itself is lpr eval's business, not this test's)
    assert in_process.plates_found >= 3 and in_process.plates_read >= 1
    assert [s.name for s in in_process.stages] == list(bench.STAGES)
    for s in in_process.stages:
        # the frame's JPEG is made only for frames with a plate (one car: one plate per frame)
        expected = {'commit_event': bench.COMMITS, 'frame_jpeg': in_process.plates_found}.get(s.name, 5)
        assert s.n == expected, s
        assert s.p50_ms > 0 and s.p90_ms > 0 and s.mean_ms > 0, s
        assert s.p90_ms >= s.p50_ms
    assert in_process.fps > 0 and in_process.load_s > 0


def test_json_structure(in_process, tmp_path):
    result = bench.BenchResult(bench.machine(), in_process)
    result.comparison = bench.compare(in_process, None)
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {'machine', 'in_process', 'graph', 'comparison'}
    assert data['graph'] is None
    stages = {s['name']: s for s in data['in_process']['stages']}
    assert set(stages) == set(bench.STAGES)
    assert set(stages['detect']) == {'name', 'n', 'p50_ms', 'p90_ms', 'mean_ms'}
    c = data['comparison']
    assert c['transport_ms'] > 0 and c['in_process_fps'] == data['in_process']['fps']
    assert c['graph_processed_fps'] is None
    assert 'detect' in bench.report(result)


def test_graph_result_from_status():
    stamp = types.SimpleNamespace(sec=1000, nanosec=500_000_000)
    event = types.SimpleNamespace(last_seen=stamp, best=types.SimpleNamespace(text='LS15EBC'), read_count=12)
    status = {'camera': {'frames': '150'}, 'detector': {'frames': '100', 'dropped': '50'},
              'ocr': {'handled': '40', 'dropped': '60'},
              'recorder': {'frames': '30', 'read_latency_ms_p50': '250.5', 'read_latency_ms_p90': '400.000',
                           'read_latency_n': '30'}}
    cpu = [('camera', 1.0, 0.2, 170.0)]
    g = bench.graph_result('clip.mp4', 0, 9.0, 30.0, 2.0, status, cpu, [(1003.0, event), (1001.0, event)])
    assert (g.frames_published, g.frames_processed, g.frames_read) == (150, 100, 30)
    assert g.processed_fps == 20.0 and g.read_fps == 6.0        # over 150 / 30 = 5 s of clip
    assert (g.read_latency_ms_p50, g.read_latency_ms_p90, g.read_latency_n) == (250.5, 400.0, 30)
    assert [e.event_delay_s for e in g.events] == [2.5, 0.5]
    assert [e.closed_by for e in g.events] == ['gap', 'end']
    assert g.nodes[0].name == 'camera' and g.nodes[0].peak_rss_mb == 170.0
    empty = bench.graph_result('clip.mp4', 1, 1.0, 30.0, 2.0, {}, [], [])
    assert empty.frames_published is None and empty.processed_fps is None and empty.read_latency_ms_p50 is None


def test_latency_window_percentiles():
    w = LatencyWindow(size=5)
    assert w.summary('lat') == {} and w.percentile(50) is None
    for ms in (10, 20, 30, 40, 50):
        w.add(ms)
    assert w.percentile(50) == 30 and w.percentile(90) == pytest.approx(46.0)
    assert w.summary('lat') == {'lat_p50': 30.0, 'lat_p90': pytest.approx(46.0)}
    for ms in (100, 100, 100):          # bounded: the three oldest fall out
        w.add(ms)
    assert len(w) == 5 and w.percentile(50) == 100.0
    one = LatencyWindow()
    one.add(7.5)
    assert one.summary('x') == {'x_p50': 7.5, 'x_p90': 7.5}


def test_unknown_source_is_refused():
    with pytest.raises(bench.BenchError):
        list(bench.frames('/no/such/clip.mp4', 3))
