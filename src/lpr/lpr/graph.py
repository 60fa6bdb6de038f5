"""The lpr node graph, described once for both ways of starting it:
``ros2 launch lpr bringup.launch.py`` (launch/bringup.launch.py) and the pip
runner (``lpr run``, lpr/runner.py)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAMESPACE = 'cam0'
PIP_ROS_DISTRO = 'kilted'   # the distribution whose PyPI wheels requirements/ros.txt pins


@dataclass(frozen=True)
class NodeSpec:
    name: str        # node name (and the key in the params YAML)
    package: str
    executable: str  # console script installed into lib/<package> (ros2 launch)
    module: str      # python -m module (pip runner)
    lifecycle: bool = True  # deactivated through its lifecycle service before it is stopped
    optional: bool = False  # started only on request (lpr run --ingest, ingest:=true)


NODES = (
    NodeSpec('camera', 'lpr_camera', 'camera_node', 'lpr_camera.node'),
    NodeSpec('detector', 'lpr_detector', 'detector_node', 'lpr_detector.node'),
    NodeSpec('ocr', 'lpr_ocr', 'ocr_node', 'lpr_ocr.node'),
    NodeSpec('recorder', 'lpr_recorder', 'recorder_node', 'lpr_recorder.node'),
    NodeSpec('bridge', 'lpr_bridge', 'bridge_node', 'lpr_bridge.node'),
    # Plate events from ANPR cameras that read plates themselves (HTTP pushes, FTP).
    NodeSpec('ingest', 'lpr_ingest', 'ingest_node', 'lpr_ingest.node', optional=True),
    # Access decisions on plate events and the barrier (lists from the journal).
    NodeSpec('access', 'lpr_access', 'access_node', 'lpr_access.node', optional=True),
)
NODE_NAMES = tuple(n.name for n in NODES)

# Live debug view (Foxglove WebSocket on 127.0.0.1:8765), started on request.
FOXGLOVE = NodeSpec('foxglove', 'lpr', 'foxglove_bridge', 'lpr.foxglove_bridge', lifecycle=False)


def overrides(source: str = '', server_url: str = '', data_dir: str = '') -> dict[str, dict]:
    """Per-node parameter overrides from the command line / launch arguments."""
    out: dict[str, dict] = {name: {} for name in NODE_NAMES}
    if source:
        out['camera']['source'] = source
    if server_url:
        out['bridge']['server_url'] = server_url
    if data_dir:
        base = Path(data_dir).expanduser().resolve()
        journal = f'sqlite:///{base / "journal.sqlite"}'
        images = str(base / 'images')
        out['recorder'].update(db_url=journal, image_dir=images, spool_dir=str(base / 'spool'))
        out['bridge'].update(db_url=journal, image_dir=images)
        out['access'].update(db_url=journal)
    return out


def share_dir() -> Path:
    """The installed share/lpr: from the ament index on a ROS install (colcon),
    else the Python prefix (pip installs the data files into the venv)."""
    if os.environ.get('AMENT_PREFIX_PATH'):
        try:
            from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
            try:
                return Path(get_package_share_directory('lpr'))
            except PackageNotFoundError:
                pass
        except ImportError:
            pass
    return Path(sys.prefix) / 'share' / 'lpr'


def default_params_file() -> Path:
    return share_dir() / 'config' / 'lpr.params.yaml'


def dds_environment() -> dict[str, str]:
    """Environment for the graph's processes: the shared-memory DDS profile and
    local discovery, each only when the user has not chosen otherwise."""
    env = {}
    profile = share_dir() / 'config' / 'fastdds_shm.xml'
    if 'FASTDDS_DEFAULT_PROFILES_FILE' not in os.environ and profile.is_file():
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile)
    if 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in os.environ:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    return env
