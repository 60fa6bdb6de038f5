"""The pip runner's supervision rules, without starting a graph."""
from pathlib import Path
from types import SimpleNamespace

from lpr import graph
from lpr.runner import Child, GraphRunner, RunOptions


def _runner(respawn: int):
    runner = GraphRunner(RunOptions(params_file=Path('unused.yaml'), respawn=respawn))
    started = []
    runner.start_node = lambda spec, env=None: started.append(spec.name)
    runner._reclaim_shm = lambda **_: None
    return runner, started


def _dead(name: str) -> Child:
    spec = next(s for s in graph.NODES if s.name == name)
    return Child(spec, SimpleNamespace(pid=0), 0.0, exit_code=-9)


def test_a_node_that_dies_is_started_again_up_to_the_limit():
    runner, started = _runner(respawn=2)
    assert runner._respawn(_dead('recorder')) and runner._respawn(_dead('recorder'))
    assert not runner._respawn(_dead('recorder')), 'a third death within the minute stops the graph'
    assert runner._respawn(_dead('bridge')), 'the limit is per node'
    assert started == ['recorder', 'recorder', 'bridge']


def test_respawn_zero_means_a_dying_node_stops_the_graph():
    runner, started = _runner(respawn=0)
    assert not runner._respawn(_dead('ocr')) and started == []


def test_a_node_dies_with_the_runner_that_started_it(tmp_path):
    """The child asks for the parent-death signal itself (no preexec_fn in a
    threaded runner): killing its parent with SIGKILL ends it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = ('import os, subprocess, sys, time\n'
              'env = dict(os.environ, LPR_PARENT_PID=str(os.getpid()))\n'
              'child = subprocess.Popen([sys.executable, "-c", "from lpr_common.process import die_with_parent;'
              ' import time; die_with_parent(); time.sleep(60)"], env=env)\n'
              'print(child.pid, flush=True)\n'
              'time.sleep(60)\n')
    parent = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    time.sleep(1.0)   # the child has started and asked for the signal
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        try:   # reap it if it became ours (it is the init's otherwise)
            os.waitpid(child_pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.kill(child_pid, signal.SIGKILL)
    raise AssertionError('the child outlived its parent')


def test_the_foxglove_port_reaches_the_bridge():
    runner = GraphRunner(RunOptions(params_file=Path('unused.yaml'), foxglove=True, foxglove_port=9123))
    assert runner.command(graph.FOXGLOVE)[-2:] == ['--port', '9123']
