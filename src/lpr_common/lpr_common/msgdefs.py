"""Complete ``ros2msg`` message definitions, as rosbag2 writes them into MCAP.

A viewer or a bag reader that does not know a message type needs its full
definition: the type's own ``.msg`` text followed by the text of every type it
uses, recursively, each dependency once, each after a two-line delimiter::

    <text of the root type>
    ================================================================================
    MSG: std_msgs/Header
    <text of std_msgs/Header>
    ...

The order follows rosbag2 (depth first, a type's dependencies in sorted order),
so a schema made here is byte-identical to the one ``ros2 bag record`` stores.
The ``.msg`` files are read from ``<prefix>/share/<pkg>/msg/`` for every prefix
of the ament index (``AMENT_PREFIX_PATH``) and for ``sys.prefix`` (a venv with
ROS wheels has no ament environment). No rclpy import: usable by the Foxglove
bridge, the recorder and plain tests alike.
"""
from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Iterable

DELIMITER = '=' * 80

# Builtin field types of ROS 2 .msg files (string<=N and wstring<=N are reduced
# to string/wstring before the lookup).
PRIMITIVE_TYPES = frozenset({
    'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16',
    'uint16', 'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring',
})

_NAME = r'[A-Za-z][A-Za-z0-9_]*'
_TYPE_NAME = re.compile(rf'^({_NAME})/(?:msg/)?({_NAME})$')
# The type token of a field or constant line: "pkg/Name", "Name", "float32[]",
# "Foo[3]", "Foo[<=5]", "string<=10", "string<=10[<=3]".
_FIELD_TYPE = re.compile(rf'^((?:{_NAME}/)?{_NAME})(?:<=\d+)?(?:\[(?:<=)?\d*\])?$')


class MessageDefinitionError(LookupError):
    """A message type or one of its dependencies has no readable .msg file."""


def split_type_name(type_name: str) -> tuple[str, str]:
    """``'pkg/msg/Name'`` or ``'pkg/Name'`` -> ``('pkg', 'Name')``."""
    match = _TYPE_NAME.match(type_name.strip())
    if match is None:
        raise MessageDefinitionError(
            f"not a message type name: {type_name!r} (expected 'pkg/msg/Name' or 'pkg/Name')")
    return match.group(1), match.group(2)


def search_prefixes() -> list[Path]:
    """Install prefixes searched for ``share/<pkg>/msg/<Name>.msg``, in order."""
    prefixes: list[Path] = []
    if os.environ.get('AMENT_PREFIX_PATH'):
        try:
            from ament_index_python.search_paths import get_search_paths
            prefixes += [Path(p) for p in get_search_paths()]
        except ImportError:
            prefixes += [Path(p) for p in os.environ['AMENT_PREFIX_PATH'].split(os.pathsep) if p]
    prefixes.append(Path(sys.prefix))
    return list(dict.fromkeys(prefixes))


def msg_path(type_name: str, prefixes: Iterable[Path] | None = None) -> Path:
    """The installed ``.msg`` file of a type; MessageDefinitionError when none."""
    pkg, name = split_type_name(type_name)
    searched = list(prefixes) if prefixes is not None else search_prefixes()
    for prefix in searched:
        path = Path(prefix) / 'share' / pkg / 'msg' / f'{name}.msg'
        if path.is_file():
            return path
    raise MessageDefinitionError(
        f'no definition of {pkg}/msg/{name}: {pkg}/msg/{name}.msg not found under '
        + ', '.join(str(Path(p) / 'share') for p in searched)
        + ' (is the package installed, or AMENT_PREFIX_PATH set?)')


def dependencies(text: str, package: str) -> list[str]:
    """Non-primitive field types used by a .msg text, as sorted ``pkg/Name``.

    Comments, blank lines, constants (``uint8 A=1``) and default values
    (``int32 x 5``) are handled: only the leading type token of a line counts.
    """
    found: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        token = line.split(None, 1)[0]
        match = _FIELD_TYPE.match(token)
        if match is None:
            raise MessageDefinitionError(f'cannot parse field type {token!r} in {package}: {line!r}')
        base = match.group(1)
        if base in PRIMITIVE_TYPES:
            continue
        found.add(base if '/' in base else f'{package}/{base}')
    return sorted(found)


@lru_cache(maxsize=256)
def _load(pkg_name: str, prefixes: tuple[Path, ...]) -> tuple[str, tuple[str, ...]]:
    path = msg_path(pkg_name, prefixes)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as exc:
        raise MessageDefinitionError(f'cannot read {path}: {exc}') from exc
    return text, tuple(dependencies(text, pkg_name.split('/')[0]))


def full_definition(type_name: str, prefixes: Iterable[Path] | None = None) -> str:
    """The complete ``ros2msg`` schema text of a message type.

    ``type_name`` is ``'pkg/msg/Name'`` (as the MCAP schema name and the
    Foxglove channel schema name) or ``'pkg/Name'``. Raises
    MessageDefinitionError when the type or any dependency cannot be found.
    """
    pkg, name = split_type_name(type_name)
    search = tuple(Path(p) for p in (prefixes if prefixes is not None else search_prefixes()))
    seen = {f'{pkg}/{name}'}

    def append(current: str, depth: int) -> str:
        if depth > 64:
            raise MessageDefinitionError(f'definition of {type_name} nests too deep (a cycle?)')
        try:
            text, deps = _load(current, search)
        except MessageDefinitionError as exc:
            if current == f'{pkg}/{name}':
                raise
            raise MessageDefinitionError(f'{exc} (needed by {type_name})') from exc
        parts = [text]
        for dep in deps:
            if dep not in seen:
                seen.add(dep)
                parts.append(f'\n{DELIMITER}\nMSG: {dep}\n')
                parts.append(append(dep, depth + 1))
        return ''.join(parts)

    return append(f'{pkg}/{name}', 0)
