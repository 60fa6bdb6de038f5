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
