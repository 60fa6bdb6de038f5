"""Reading the params YAML outside ROS (for the CLI's own commands), and the
parameter reference generated from the nodes' config dataclasses."""
from __future__ import annotations

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
    from lpr_bridge.config import BridgeConfig
    from lpr_camera.config import CameraConfig
    from lpr_detector.config import DetectorConfig
    from lpr_ocr.config import OcrConfig
    from lpr_recorder.config import RecorderConfig
    return {'camera': CameraConfig, 'detector': DetectorConfig, 'ocr': OcrConfig,
            'recorder': RecorderConfig, 'bridge': BridgeConfig}


def describe() -> str:
    """Every node's parameters: name, default, description."""
    from lpr_common.config import field_specs
    lines = []
    for node, cls in config_classes().items():
        lines.append(f'{node}:')
        for name, _kind, default, help_text in field_specs(cls):
            lines.append(f'  {name:<18} {default!r:<14} {help_text}')
    return '\n'.join(lines)
