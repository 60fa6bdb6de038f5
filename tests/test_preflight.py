"""`lpr run` checks the params file, the source and the data dir before any
node starts: one line per problem (file, node, key), exit 2, in seconds."""
import os
import subprocess
import sys
import time
from pathlib import Path

from lpr import graph
from lpr.params import check_params

LPR = [sys.executable, '-m', 'lpr_tools.cli']


def write(tmp_path, text):
    path = tmp_path / 'p.yaml'
    path.write_text(text)
    return path


def test_every_problem_of_a_params_file_is_one_line(tmp_path):
    path = write(tmp_path, '/**/recorder:\n  ros__parameters:\n    gap_seconds: 2.0\n    min_reads: two\n'
                           '/**/ocr:\n  ros__parameters:\n    score_threshold: 0.3\n    autostart: true\n')
    problems = check_params(path)
    assert problems == [
        f"{path}: ocr: unknown parameter 'score_threshold' (it is a parameter of detector)",
        f"{path}: recorder: unknown parameter 'gap_seconds' (did you mean 'gap_s'?)",
        f"{path}: recorder: parameter 'min_reads' must be an integer, got 'two'",
    ]
    assert check_params(graph.default_params_file()) == []


def test_the_parameters_every_node_has_are_checked_like_the_others(tmp_path):
    path = write(tmp_path, '/**:\n  ros__parameters:\n    status_period: 0.0\n'
                           '/**/ocr:\n  ros__parameters:\n    autostart: maybe\n')
    problems = check_params(path)
    assert f"{path}: ocr: parameter 'autostart' must be true or false, got 'maybe'" in problems
    assert f'{path}: recorder: status_period must be in 0.1..3600 s, got 0.0' in problems


def test_yaml_errors_and_unknown_sections_name_the_place(tmp_path):
    (problem,) = check_params(write(tmp_path, '/**/ocr:\n  ros__parameters:\n    regions: [UK\n'))
    assert 'line 4' in problem and 'not valid YAML' in problem
    (problem,) = check_params(write(tmp_path, '/**/ocrr:\n  ros__parameters: {}\n'))
    assert "no such node (did you mean 'ocr'?)" in problem
    (problem,) = check_params(tmp_path / 'absent.yaml')
    assert 'cannot read' in problem


def test_lpr_run_refuses_before_starting_anything(tmp_path):
    path = write(tmp_path, '/**/recorder:\n  ros__parameters:\n    gap_seconds: 2.0\n')
    locked = tmp_path / 'file-not-dir'
    locked.write_text('x')
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    started = time.monotonic()
    result = subprocess.run(LPR + ['run', '--params', str(path), '--source', str(tmp_path / 'missing.mp4'),
                                   '--data-dir', str(locked / 'data')],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith('error: ')]
    assert len(lines) == 3, result.stderr
    assert "gap_seconds" in lines[0] and 'no such file' in lines[1] and 'not writable' in lines[2]
    assert 'Traceback' not in result.stderr and time.monotonic() - started < 30


def test_the_shipped_params_file_restates_no_default():
    """config/lpr.params.yaml lists only what differs from the nodes' defaults
    (the defaults live in the node configs, once)."""
    from lpr.params import config_classes, node_parameters
    from lpr_common.config import field_specs
    shipped = Path(__file__).resolve().parents[1] / 'config' / 'lpr.params.yaml'
    for node, cls in config_classes().items():
        defaults = {name: default for name, _, default, _ in field_specs(cls)}
        for key, value in node_parameters(shipped, node, 'cam0').items():
            assert defaults.get(key, object()) != value, f'{node}: {key}: {value!r} is the default'


def test_the_cores_take_their_defaults_from_the_node_configs():
    import dataclasses

    from lpr_camera.config import CameraConfig
    from lpr_camera.sources import SourceOptions
    from lpr_recorder.config import RecorderConfig
    from lpr_recorder.passes import PassConfig
    for core, node in ((PassConfig(), RecorderConfig()), (SourceOptions(), CameraConfig())):
        shared = [f.name for f in dataclasses.fields(core) if hasattr(node, f.name)]
        assert shared, core
        for name in shared:
            if name in ('fps', 'width', 'height', 'loop'):   # SourceOptions: None / False = not set
                continue
            assert getattr(core, name) == getattr(node, name), (type(core).__name__, name)
    assert RecorderConfig().pass_config() == PassConfig()
