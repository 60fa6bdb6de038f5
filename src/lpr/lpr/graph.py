"""The lpr node graph, described once for both ways of starting it:
``ros2 launch lpr bringup.launch.py`` (launch/bringup.launch.py) and the pip
runner (``lpr run``, lpr/runner.py)."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, replace
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
    remaps: tuple[tuple[str, str], ...] = ()   # (from, to) topic remappings

    @property
    def is_camera(self) -> bool:
        return self.package == 'lpr_camera'


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
# A tool (lpr_tools): ros2 launch needs that package only with foxglove:=true.
FOXGLOVE = NodeSpec('foxglove', 'lpr_tools', 'foxglove_bridge', 'lpr_tools.foxglove_bridge', lifecycle=False)


# Several cameras in one graph: a params section per camera node, named
# camera_<id> (e.g. /**/camera_gate_in), instead of the one /**/camera.
CAMERA_NODE = re.compile(r'camera_([A-Za-z][A-Za-z0-9_]*)')


def camera_names(params_file: Path | str | None) -> list[str]:
    """The camera nodes a params file asks for, in file order: its camera_<id>
    sections, or the one 'camera' when it has none."""
    import yaml
    try:
        data = yaml.safe_load(Path(params_file).read_text(encoding='utf-8')) if params_file else None
    except (OSError, yaml.YAMLError):
        data = None   # reported by the params check; start with the one camera
    names = []
    for key in data if isinstance(data, dict) else ():
        name = str(key).rstrip('/').rsplit('/', 1)[-1]
        if CAMERA_NODE.fullmatch(name) and name not in names:
            names.append(name)
    return names or ['camera']


def camera_id(node_name: str) -> str:
    """'camera_gate_in' -> 'gate_in'; '' for the single camera (its id is the namespace)."""
    match = CAMERA_NODE.fullmatch(node_name)
    return match.group(1) if match else ''


def camera_specs(names: list[str]) -> list[NodeSpec]:
    """One camera node per name; with several, each publishes on its own
    cameras/<id>/image_raw and the one detector takes them in turns."""
    from lpr_common.topics import FRAMES, camera_frames
    single = NODES[0]
    if names == [single.name]:
        return [single]
    return [replace(single, name=n, remaps=((FRAMES.name, camera_frames(camera_id(n))),)) for n in names]


def overrides(source: str = '', server_url: str = '', data_dir: str = '',
              cameras: list[str] | None = None) -> dict[str, dict]:
    """Per-node parameter overrides from the command line / launch arguments.
    ``cameras``: the camera node names (camera_names); several get their ids
    and the detector the list of cameras to serve."""
    cameras = cameras or ['camera']
    out: dict[str, dict] = {name: {} for name in (*NODE_NAMES, *cameras)}
    if source:
        if cameras != ['camera']:
            raise ValueError(f'--source sets the one camera; this params file has {len(cameras)} '
                             f'({", ".join(cameras)}): set each one\'s source in its section')
        out['camera']['source'] = source
    if cameras != ['camera']:
        for name in cameras:
            out[name]['camera_id'] = camera_id(name)
        out['detector']['cameras'] = [camera_id(n) for n in cameras]
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
