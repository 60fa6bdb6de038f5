"""The real graph: real rclpy, real DDS on this host, one process per node,
started by `lpr run` exactly as a user does."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import shared_path
from sio_server import EventServer

pytestmark = pytest.mark.graph   # every test here starts the real node graph

LPR = [sys.executable, '-m', 'lpr_tools.cli']
EVENT_LINE = re.compile(r'^\d\d:\d\d:\d\d\.\d{3}\s+(\S+)\s+(\S+)\s+conf ([\d.]+)', re.M)


def lpr(args, tmp_path, timeout=240, **kwargs):
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID=str(40 + os.getpid() % 50))   # apart from other graphs on this host
    return subprocess.run(LPR + args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def params_file(tmp_path, camera: dict) -> Path:
    """The installed params YAML with camera overrides (as a user would edit it)."""
    from lpr import graph
    data = yaml.safe_load(graph.default_params_file().read_text())
    data['/**/camera']['ros__parameters'].update(camera)
    path = tmp_path / 'params.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


def journal_rows(data_dir: Path):
    con = sqlite3.connect(data_dir / 'journal.sqlite')
    rows = con.execute('SELECT plate, frame_path, plate_path, upload_state FROM events ORDER BY id').fetchall()
    con.close()
    return rows


def test_synthetic_scene_end_to_end(tmp_path):
    from lpr_camera.config import CameraConfig
    from lpr_camera.scene import demo_plates
    from lpr_common.config import build_config
    camera = {'synthetic_cars': 2, 'fps': 10.0}
    truth = demo_plates(7, build_config(CameraConfig, camera))
    data = tmp_path / 'data'
    result = lpr(['run', '--source', 'synthetic:7', '--params', str(params_file(tmp_path, camera)),
                  '--data-dir', str(data), '--no-bridge'], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [m[1] for m in EVENT_LINE.findall(result.stdout)]
    assert printed == truth, result.stdout + result.stderr[-2000:]
    rows = journal_rows(data)
    assert [r[0] for r in rows] == truth
    for plate, frame, crop, state in rows:
        assert (data / 'images' / frame).stat().st_size > 10_000
        assert (data / 'images' / crop).stat().st_size > 500
        assert state == 'pending'   # no server configured: queued, not failed
    listed = lpr(['events', '--data-dir', str(data)], tmp_path, timeout=60)
    assert listed.returncode == 0 and all(t in listed.stdout for t in truth)


def test_k_cars_give_k_events_even_one_character_apart_and_stop_and_go(tmp_path):
    plates = ['UK:AB12CDE', 'UK:AB12CDF', 'KZ:123ABC02', 'BR:ABC1D23']
    camera = {'synthetic_plates': plates, 'synthetic_stops': [0.0, 0.0, 4.0, 0.0], 'fps': 10.0}
    data = tmp_path / 'data'
    result = lpr(['run', '--source', 'synthetic:3', '--params', str(params_file(tmp_path, camera)),
                  '--data-dir', str(data), '--no-bridge'], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r[0] for r in journal_rows(data)] == ['AB12CDE', 'AB12CDF', '123ABC02', 'ABC1D23'], \
        result.stdout + result.stderr[-2000:]


def test_uk_clip_commits_the_plate(tmp_path):
    clip = shared_path('videos', 'uk-LS15EBC.mp4')
    data = tmp_path / 'data'
    result = lpr(['run', '--source', str(clip), '--data-dir', str(data), '--no-bridge'], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [m[1] for m in EVENT_LINE.findall(result.stdout)] == ['LS15EBC'], result.stdout
    rows = journal_rows(data)
    assert [r[0] for r in rows] == ['LS15EBC']   # one car, one event
    plate, frame, crop, _ = next(r for r in rows if r[0] == 'LS15EBC')
    assert (data / 'images' / frame).is_file() and (data / 'images' / crop).is_file()
    con = sqlite3.connect(data / 'journal.sqlite')
    assert con.execute("SELECT direction FROM events WHERE plate = 'LS15EBC'").fetchone()[0] == 'approaching'
    con.close()


def test_bridge_delivers_events_to_a_socketio_server(tmp_path):
    camera = {'synthetic_cars': 1, 'fps': 10.0, 'synthetic_plates': ['UK:AB12CDE']}
    data = tmp_path / 'data'
    with EventServer() as server:
        result = lpr(['run', '--source', 'synthetic:1', '--params', str(params_file(tmp_path, camera)),
                      '--data-dir', str(data), '--server', server.url], tmp_path)
        deadline = time.monotonic() + 10
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [e['plate'] for e in server.received] == ['AB12CDE'], result.stderr[-2000:]
    event = server.received[0]
    assert event['images']['frame'] and event['images']['plate'] and event['camera_id'] == 'cam0'
    assert [r[3] for r in journal_rows(data)] == ['sent']


def _shm() -> set[str]:
    return {p.name for p in Path('/dev/shm').glob('*fastdds*')}


def _unmapped(names: set[str]) -> set[str]:
    """Segments no live process has mapped: debris (other tests' live graphs are not)."""
    mapped = set()
    for maps in Path('/proc').glob('[0-9]*/maps'):
        try:
            mapped.update(line.rsplit('/', 1)[-1].strip() for line in maps.read_text().splitlines()
                          if '/dev/shm/' in line)
        except OSError:
            pass
    def base(name: str) -> str:   # a segment's companions: NAME_el, sem.NAME_mutex
        return name.removeprefix('sem.').removesuffix('_mutex').removesuffix('_el')
    live = {base(n) for n in mapped}
    return {n for n in names if base(n) not in live}


def test_ctrl_c_stops_everything_cleanly(tmp_path):
    before = _shm()
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID='97')
    camera = {'synthetic_cars': 1, 'loop': True}
    proc = subprocess.Popen(LPR + ['run', '--source', 'synthetic:2', '--data-dir', str(tmp_path / 'data'),
                                   '--params', str(params_file(tmp_path, camera))],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 90           # poll, not sleep: a loaded machine starts slowly
    children = _children(proc.pid)
    while len(children) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        children = _children(proc.pid)
    time.sleep(1.0)                            # the camera is up: let a frame or two through
    assert len(children) == 5, (children, proc.poll())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err[-3000:]     # stopped by a signal, in order: 128 + SIGINT
    assert 'stopping the graph: interrupted' in err
    assert not [pid for pid in children if Path(f'/proc/{pid}').exists()]
    assert 'Traceback' not in err, err[-4000:]
    debris = _unmapped(_shm() - before)
    assert not debris, f'/dev/shm debris: {sorted(debris)}'


def test_a_bad_source_is_one_clear_line_and_a_failure(tmp_path):
    result = lpr(['run', '--source', str(tmp_path / 'missing.mp4'), '--data-dir', str(tmp_path / 'd'),
                  '--no-bridge'], tmp_path, timeout=60)
    assert result.returncode == 2                  # refused before any node started
    assert result.stderr.strip() == f'error: source {tmp_path / "missing.mp4"}: no such file or folder'
    assert 'Traceback' not in result.stderr


def _children(pid: int) -> list[int]:
    out = subprocess.run(['ps', '-o', 'pid=', '--ppid', str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]
