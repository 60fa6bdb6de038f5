"""`lpr run` checks the params file, the source and the data dir before any
node starts: one line per problem (file, node, key), exit 2, in seconds."""
import os
import subprocess
import sys
import time

from lpr import graph
from lpr.params import check_params

LPR = [sys.executable, '-m', 'lpr.cli']


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
