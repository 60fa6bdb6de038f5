"""Typed, validated node configuration, with no ROS import.

Each node describes its parameters once, as a frozen dataclass whose fields
carry the default and a help text::

    @dataclass(frozen=True)
    class DetectorConfig:
        score_threshold: float = param(0.35, 'minimum plate score, 0..1')

        def validate(self):
            check(0 < self.score_threshold < 1, 'score_threshold must be in (0, 1)')

The node declares one ROS parameter per field (lpr_common.node), the pip
runner and the launch file only pass the params YAML through, so every default
lives in exactly one place: the dataclass.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Mapping


class ConfigError(ValueError):
    """A parameter value that cannot be used; the message names the parameter."""


def param(default: Any, help: str, **kwargs) -> Any:  # noqa: A002 - "help" reads best here
    """A dataclass field with a default and a description."""
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default),
                                 metadata={'help': help, **kwargs})
    return dataclasses.field(default=default, metadata={'help': help, **kwargs})


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def field_specs(cls) -> list[tuple[str, type, Any, str]]:
    """(name, python type, default, help) per field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        specs.append((f.name, hints[f.name], default, f.metadata.get('help', '')))
    return specs


def _coerce(name: str, kind: type, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'parameter {name!r} must be a list, got {value!r}')
        return [_coerce(name, item, v) for v in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f'parameter {name!r} must be true or false, got {value!r}')
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f'parameter {name!r} must be a number, got {value!r}')
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f'parameter {name!r} must be an integer, got {value!r}')
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f'parameter {name!r} must be a string, got {value!r}')
    raise TypeError(f'unsupported parameter type {kind} for {name!r}')


def build_config(cls, values: Mapping[str, Any]):
    """Make a validated config from raw values (missing ones take the defaults)."""
    known = {name for name, *_ in field_specs(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f'unknown parameter(s) {", ".join(unknown)}')
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(k, hints[k], v) for k, v in values.items()}
    config = cls(**kwargs)
    validate = getattr(config, 'validate', None)
    if validate is not None:
        validate()
    return config


@dataclass(frozen=True)
class NodeOptions:
    """Parameters every lpr node has besides its own config (lpr_common.node)."""
    autostart: bool = param(True, 'configure and activate on start-up (no lifecycle manager needed)')
    status_period: float = param(2.0, 'seconds between status messages on /diagnostics')

    def validate(self) -> None:
        check(0.1 <= self.status_period <= 3600, f'status_period must be in 0.1..3600 s, got {self.status_period}')
