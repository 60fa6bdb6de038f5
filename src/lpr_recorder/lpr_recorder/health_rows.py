"""The graph's health as rows and summaries, without ROS or a database.

Every node publishes its status on /diagnostics (lpr_common.node). The
recorder keeps the newest one per node in the journal (``node_health``) for
the web journal's health page; the bridge sends a compact summary with its
heartbeat to the central server. Both use what is here:

* ``health_row``: one DiagnosticStatus's fields -> the row's values (figures
  parsed back to numbers/booleans, bounded in count and length);
* ``LatestHealth``: the newest row per node, and which rows are due for a
  write (at most one per node every ``min_interval_s``);
* ``node_view`` / ``box_figures``: what the health page shows, staleness included;
* ``summary``: the heartbeat's ``health`` object, kept within a byte budget.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}

WRITE_INTERVAL_S = 5.0   # the recorder writes a node's row at most this often
STALE_AFTER_S = 60.0     # a row not updated for this long is shown as stale
MAX_NODES = 64           # nodes tracked (anything may publish on /diagnostics)
MAX_FIGURES = 64         # key/values kept per node
MAX_TEXT = 200           # characters kept of a key, a value or a message
NAME_LEN, CAMERA_LEN = 200, 64   # the columns' sizes

# The figures shown beside state/cpu/rss (page and heartbeat), most telling first.
KEY_FIGURES = (
    'connected', 'last_frame_age_s', 'fps', 'source_fps', 'reconnects',
    'read_latency_ms_p50', 'read_latency_ms_p90', 'last_decision_latency_ms',
    'queued', 'pending', 'open_passes', 'spool', 'dropped', 'source_dropped',
    'errors', 'write_errors', 'dead_letters', 'driver_errors', 'failures',
    'device', 'detect_ms', 'provider', 'oldest_pending_age_s',
)
BOX_FIGURES = ('disk_free_gb', 'temperature_c')   # the recorder reports the box


@dataclass(frozen=True)
class HealthRow:
    """The newest status of one node, as the ``node_health`` table keeps it."""
    node: str                      # fully qualified, e.g. /cam0/recorder
    camera: str                    # the namespace (hardware_id), e.g. cam0
    level: int
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    updated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def short_name(self) -> str:
        """The node without its namespace: recorder."""
        return self.node.rstrip('/').rsplit('/', 1)[-1] or self.node


def level_number(level: Any) -> int:
    """DiagnosticStatus.level is a one-byte ``bytes`` in rclpy; an int elsewhere."""
    if isinstance(level, (bytes, bytearray)):
        level = level[0] if level else 0
    try:
        return min(max(int(level), OK), STALE)
    except (TypeError, ValueError):
        return ERROR


def parse_value(text: str) -> Any:
    """A figure as published (always a string) back to a bool, int or float
    where it reads as one; other text stays text (shortened)."""
    text = str(text)
    if text in ('True', 'False'):
        return text == 'True'
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if not (isinstance(value, float) and not math.isfinite(value)) else text
    return text[:MAX_TEXT]


def health_row(name: str, hardware_id: str, level: Any, message: str,
               key_values: Iterable[tuple[str, str]], now: dt.datetime | None = None) -> HealthRow:
    """One DiagnosticStatus (its fields, already taken out of the message) as a row."""
    figures: dict[str, Any] = {}
    for key, value in key_values:
        if len(figures) >= MAX_FIGURES:
            break
        figures[str(key)[:MAX_TEXT]] = parse_value(value)
    name = (name or '?')[:NAME_LEN]
    camera = hardware_id or name.strip('/').rpartition('/')[0]
    return HealthRow(node=name, camera=camera[:CAMERA_LEN], level=level_number(level),
                     message=(message or '')[:MAX_TEXT], figures=figures,
                     updated_at=now or dt.datetime.now(dt.timezone.utc))


def rows_of(statuses: Iterable[Any], now: dt.datetime | None = None) -> list[HealthRow]:
    """The rows of a DiagnosticArray's ``status`` list (any objects with its fields)."""
    return [health_row(s.name, s.hardware_id, s.level, s.message, ((kv.key, kv.value) for kv in s.values), now)
            for s in statuses]


class LatestHealth:
    """The newest row per node (at most ``max_nodes``), safe across threads.

    ``due`` hands out the rows that changed since they were last handed out,
    at most once per node every ``min_interval_s`` (the rest wait their turn),
    so a node publishing ten times a second still costs one write per interval.
    """

    def __init__(self, min_interval_s: float = WRITE_INTERVAL_S, max_nodes: int = MAX_NODES,
                 clock=time.monotonic):
        self.min_interval_s = min_interval_s
        self.max_nodes = max_nodes
        self.ignored = 0                      # statuses of nodes past max_nodes
        self._clock = clock
        self._rows: dict[str, HealthRow] = {}
        self._changed: set[str] = set()
        self._written: dict[str, float] = {}  # node -> when it was last handed out
        self._lock = threading.Lock()

    def offer(self, row: HealthRow) -> None:
        with self._lock:
            if row.node not in self._rows and len(self._rows) >= self.max_nodes:
                self.ignored += 1
                return
            self._rows[row.node] = row
            self._changed.add(row.node)

    def rows(self) -> list[HealthRow]:
        with self._lock:
            return sorted(self._rows.values(), key=lambda r: r.node)

    def due(self) -> list[HealthRow]:
        now = self._clock()
        with self._lock:
            ready = sorted(n for n in self._changed
                           if now - self._written.get(n, -math.inf) >= self.min_interval_s)
            for node in ready:
                self._changed.discard(node)
                self._written[node] = now
            return [self._rows[n] for n in ready]

    def retry(self, rows: Iterable[HealthRow]) -> None:
        """Rows whose write failed: due again next time (unless newer ones came)."""
        with self._lock:
            for row in rows:
                self._changed.add(row.node)
                self._written.pop(row.node, None)


# -- what the health page shows ----------------------------------------------------------
def age_s(updated_at: dt.datetime, now: dt.datetime) -> float:
    return max((now - updated_at).total_seconds(), 0.0)


def node_view(row: HealthRow, now: dt.datetime, stale_after_s: float = STALE_AFTER_S) -> dict:
    """One node for the health page: its level (STALE when the row is old),
    lifecycle state, age, cpu and memory, the key figures it has, the rest."""
    age = age_s(row.updated_at, now)
    stale = age > stale_after_s
    level = STALE if stale else row.level
    figures = row.figures
    key = {k: figures[k] for k in KEY_FIGURES + BOX_FIGURES if k in figures}
    shown = {'lifecycle', 'cpu_percent', 'rss_mb', *key}
    return {'node': row.node, 'name': row.short_name, 'camera': row.camera,
            'level': level, 'level_name': LEVEL_NAMES[level], 'reported_level': LEVEL_NAMES[row.level],
            'problem': row.level >= WARN or stale, 'stale': stale, 'message': row.message,
            'state': figures.get('lifecycle', ''), 'age_s': round(age, 1), 'updated_at': row.updated_at,
            'cpu_percent': figures.get('cpu_percent'), 'rss_mb': figures.get('rss_mb'),
            'key_figures': key, 'other_figures': {k: v for k, v in figures.items() if k not in shown}}


def box_figures(rows: Iterable[HealthRow]) -> dict[str, Any]:
    """Disk free and temperature of the box, from the freshest row reporting them."""
    box: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: r.updated_at):
        box.update({k: row.figures[k] for k in BOX_FIGURES if k in row.figures})
    return box


def worst_level(views: Iterable[dict]) -> int:
    return max((v['level'] for v in views), default=OK)


# -- the heartbeat's summary ---------------------------------------------------------------
SUMMARY_BUDGET = 2500   # bytes of the heartbeat's ``health`` object (the heartbeat: <= 4096)


def _brief(row: HealthRow, now: dt.datetime, stale_after_s: float) -> dict:
    age = age_s(row.updated_at, now)
    entry = {'level': STALE if age > stale_after_s else row.level, 'state': row.figures.get('lifecycle', ''),
             'age_s': round(age)}
    for key, short in (('cpu_percent', 'cpu'), ('rss_mb', 'rss_mb')):
        if isinstance(row.figures.get(key), (int, float)):
            entry[short] = round(row.figures[key], 1)
    if row.level >= WARN:
        entry['msg'] = row.message[:120]
    return entry


def _full(row: HealthRow, brief: dict) -> dict:
    entry = dict(brief)
    for key in KEY_FIGURES:
        value = row.figures.get(key)
        if value is not None:
            entry[key] = round(value, 2) if isinstance(value, float) else value
    return entry


def _size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(',', ':'), allow_nan=False).encode())


def summary(rows: Iterable[HealthRow], now: dt.datetime | None = None, budget: int = SUMMARY_BUDGET,
            stale_after_s: float = STALE_AFTER_S) -> dict:
    """``{"worst": level, "box": {...}, "nodes": {"cam0/camera": {...}}}`` within
    ``budget`` bytes (compact JSON). Nodes in trouble come first; when it does
    not fit, healthy nodes lose their key figures first, then everyone does
    (a node in trouble keeps its message), then the least telling nodes go
    (``"omitted": n`` says how many)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    rows = list(rows)
    briefs = {r.node: _brief(r, now, stale_after_s) for r in rows}
    order = sorted(rows, key=lambda r: (-briefs[r.node]['level'], r.node))
    box = {k: round(v, 2) if isinstance(v, float) else v for k, v in box_figures(rows).items()}
    result = {'worst': max((b['level'] for b in briefs.values()), default=OK), 'box': box}
    entries = {r.node: _full(r, briefs[r.node]) for r in order}

    def build(kept: list[HealthRow]) -> dict:
        nodes = {r.node.strip('/')[:64]: entries[r.node] for r in kept}
        out = dict(result, nodes=nodes)
        if len(kept) < len(order):
            out['omitted'] = len(order) - len(kept)
        return out

    out = build(order)
    # Healthy (last in the order) nodes first lose their figures, then the rest.
    for row in sorted(order, key=lambda r: briefs[r.node]['level'] >= WARN):
        if _size(out) <= budget:
            return out
        entries[row.node] = briefs[row.node]
        out = build(order)
    kept = list(order)
    while kept and _size(out) > budget:
        kept.pop()
        out = build(kept)
    return out
