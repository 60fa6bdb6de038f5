"""Reading the params YAML outside ROS (for the CLI's own commands), and the
parameter reference generated from the nodes' config dataclasses."""
from __future__ import annotations

import difflib
import fnmatch
from pathlib import Path

import yaml

from lpr import graph


def node_parameters(params_file: Path, node: str, namespace: str = graph.DEFAULT_NAMESPACE) -> dict:
    """The parameters the YAML gives ``/namespace/node`` (wildcards applied in file order)."""
    data = yaml.safe_load(Path(params_file).read_text()) or {}
    fqn = f'/{namespace}/{node}'
    out: dict = {}
    for key, section in data.items():
        pattern = key if key.startswith('/') else f'/{key}'
        pattern = pattern.replace('/**', '*')
        if fnmatch.fnmatchcase(fqn, pattern) or key == node:
            out.update((section or {}).get('ros__parameters', {}) or {})
    return out


def journal_url(params_file: Path, data_dir: str = '') -> str:
    from lpr_recorder.journal import resolve_url
    if data_dir:
        return graph.overrides(data_dir=data_dir)['recorder']['db_url']
    return resolve_url(node_parameters(params_file, 'recorder').get('db_url', ''))


def config_classes() -> dict[str, type]:
    from lpr_access.config import AccessConfig
    from lpr_bridge.config import BridgeConfig
    from lpr_camera.config import CameraConfig
    from lpr_detector.config import DetectorConfig
    from lpr_ingest.config import IngestConfig
    from lpr_ocr.config import OcrConfig
    from lpr_recorder.config import RecorderConfig
    return {'camera': CameraConfig, 'detector': DetectorConfig, 'ocr': OcrConfig,
            'recorder': RecorderConfig, 'bridge': BridgeConfig, 'ingest': IngestConfig,
            'access': AccessConfig}


def describe() -> str:
    """Every node's parameters: name, default, description."""
    from lpr_common.config import NodeOptions, field_specs
    lines = []
    for node, cls in {'every node': NodeOptions, **config_classes()}.items():
        lines.append(f'{node}:')
        for name, _kind, default, help_text in field_specs(cls):
            lines.append(f'  {name:<18} {default!r:<14} {help_text}')
    return '\n'.join(lines)


# Parameters every lpr node declares besides its config dataclass (lpr_common.node:
# NodeOptions), and the one rclpy declares itself.
RCLPY_PARAMETERS = ('use_sim_time',)


def common_parameters() -> tuple[str, ...]:
    from lpr_common.config import NodeOptions, field_specs
    return tuple(name for name, *_ in field_specs(NodeOptions)) + RCLPY_PARAMETERS


def _sections(params_file: Path, data) -> list[str]:
    problems = []
    if not isinstance(data, dict):
        return [f'{params_file}: the file must be a mapping of node sections, e.g. "/**/ocr: {{ros__parameters: ...}}"']
    for key, section in data.items():
        name = str(key).rstrip('/').rsplit('/', 1)[-1]
        if name not in graph.NODE_NAMES and name != '**' and not graph.CAMERA_NODE.fullmatch(name):
            close = difflib.get_close_matches(name, graph.NODE_NAMES, 1)
            hint = f' (did you mean {close[0]!r}?)' if close else f' (nodes: {", ".join(graph.NODE_NAMES)})'
            problems.append(f'{params_file}: {key}: no such node{hint}')
        elif not isinstance(section, dict) or not isinstance(section.get('ros__parameters', {}), dict):
            problems.append(f'{params_file}: {key}: must hold a "ros__parameters" mapping')
    return problems


def check_params(params_file: Path, namespace: str = graph.DEFAULT_NAMESPACE,
                 overrides: dict | None = None) -> list[str]:
    """Everything wrong with a params file, one line each naming the file,
    the node and the key: YAML errors with their line, unknown keys (with a
    "did you mean"), wrong types, values the nodes would refuse. Run before
    any node starts, so a misspelt key fails in a second, not after the graph is up."""
    from lpr_common.config import ConfigError, NodeOptions, build_config, field_specs
    try:
        data = yaml.safe_load(Path(params_file).read_text(encoding='utf-8')) or {}
    except OSError as exc:
        return [f'{params_file}: cannot read: {exc.strerror or exc}']
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f' line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        return [f'{params_file}:{where}: not valid YAML: {getattr(exc, "problem", None) or exc}']
    problems = _sections(params_file, data)
    if problems:
        return problems
    classes = config_classes()
    every = {node: {name for name, *_ in field_specs(cls)} for node, cls in classes.items()}
    every['every node'] = {name for name, *_ in field_specs(NodeOptions)}
    cameras = graph.camera_names(params_file)
    problems += _camera_sections(params_file, data, cameras)
    nodes = [(name, 'camera') for name in cameras] + [(n, n) for n in classes if n != 'camera']
    for name, node in nodes:
        cls = classes[node]
        values = {**node_parameters(params_file, name, namespace), **((overrides or {}).get(name) or {})}
        common = {k: values.pop(k) for k in list(values) if k in every['every node']}
        values.pop('use_sim_time', None)
        for key in [k for k in values if k not in every[node]]:
            problems.append(f'{params_file}: {name}: unknown parameter {key!r}{_hint(key, node, every)}')
            values.pop(key)
        for config_class, given in ((cls, values), (NodeOptions, common)):
            try:
                build_config(config_class, given)
            except ConfigError as exc:
                problems.append(f'{params_file}: {name}: {exc}')
    return problems


def _camera_sections(params_file: Path, data: dict, cameras: list[str]) -> list[str]:
    """With camera_<id> sections, each is one camera: a plain camera section
    would configure no node, and a camera's id is its section's name."""
    if cameras == ['camera']:
        return []
    problems = []
    for key, section in data.items():
        name = str(key).rstrip('/').rsplit('/', 1)[-1]
        values = (section or {}).get('ros__parameters') or {}
        if name == 'camera' and values:
            problems.append(f'{params_file}: {key}: no such node when the file has camera_<id> sections '
                            f'({", ".join(cameras)}); give each camera its settings in its own section')
        elif name in cameras and values.get('camera_id') not in (None, '', graph.camera_id(name)):
            problems.append(f'{params_file}: {key}: camera_id is the section name\'s {graph.camera_id(name)!r}, '
                            f'not {values["camera_id"]!r}; rename the section to set it')
    return problems


def _hint(key: str, node: str, every: dict[str, set[str]]) -> str:
    close = difflib.get_close_matches(key, sorted(every[node]) + list(common_parameters()), 1, 0.6)
    if close:
        return f' (did you mean {close[0]!r}?)'
    owners = [n for n, names in every.items() if key in names]
    return f' (it is a parameter of {", ".join(owners)})' if owners else ''
