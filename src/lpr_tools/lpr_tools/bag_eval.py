"""``lpr eval --bag BAG --truth TRUTH [--json OUT]``: replay a recorded camera
through the real graph and score its events against the truth.

The graph is started without its camera (lpr.runner, ``with_camera=False``,
its own namespace and a throw-away journal), the bag's ``image_raw`` is played
into that namespace at the recorded pace (header stamps untouched, so passes
behave as live), the run waits until the detector, OCR and recorder are idle,
then stops the graph in order (the recorder turns open passes into events)
and scores the final events it committed.

Truth file: one line per vehicle pass, ``text,start_s,end_s``: the plate text
and the time span, in seconds from the start of the bag (the header stamp of
its first frame), during which that vehicle is in view. Blank lines, ``#``
comments and a header line ``text,start_s,end_s`` are ignored. A ``.yaml`` /
``.yml`` file holds the same as a list of mappings (optionally under a
``plates:`` key)::

    LS15EBC,0.0,4.7            # CSV
    - {text: LS15EBC, start_s: 0.0, end_s: 4.7}    # YAML

Scoring (pure functions below, no ROS): texts are compared with spaces and
dashes removed, case-folded. An event's time is its best frame's stamp
(``PlateEvent.header.stamp``) relative to the bag start. Events are taken in
time order; an event within ``tolerance_s`` of a span of the same text that
is not matched yet is a *true positive* and matches that span; one for a span
already matched is a *duplicate*; an event within the tolerance of spans of
other texts only is a *wrong text*; one near no span at all is a *false
event*. Spans left unmatched are *missed*. Precision = true positives / all
events (duplicates count against it: one pass should make one event); recall
= true positives / spans.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import yaml

from lpr_common import topics
from lpr_common.plate_text import compact, fold_label_quirks

DEFAULT_TOLERANCE_S = 0.5
TRUE_POSITIVE, DUPLICATE, WRONG_TEXT, FALSE_EVENT = 'true_positive', 'duplicate', 'wrong_text', 'false_event'
STATUS_PERIOD_S = 0.5    # the nodes' /diagnostics period during an evaluation (idle detection)
IDLE_QUIET_S = 1.5       # no progress in any node for this long = idle
SUBSCRIBER_TIMEOUT_S = 120.0   # graph start-up: model loading on a small machine


class TruthError(ValueError):
    """A truth file that cannot be read."""


@dataclass(frozen=True)
class TruthSpan:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class EventRecord:
    """One final event, its times in seconds from the start of the clip/bag:
    its best frame, first and last sighting, and when it reached the monitor
    (None where unknown)."""
    text: str
    stamp_s: float
    event_id: str = ''
    confidence: float = 0.0
    read_count: int = 0
    first_s: float | None = None
    last_s: float | None = None
    arrived_s: float | None = None


@dataclass
class ScoredEvent:
    event: EventRecord
    outcome: str
    span: int | None       # index into the truth list


@dataclass
class Score:
    truth: list[TruthSpan]
    events: list[ScoredEvent]
    tolerance_s: float
    matched: dict[int, int] = field(default_factory=dict)   # span index -> index into events

    def count(self, outcome: str) -> int:
        return sum(1 for e in self.events if e.outcome == outcome)

    @property
    def true_positives(self) -> int:
        return self.count(TRUE_POSITIVE)

    @property
    def missed(self) -> int:
        return len(self.truth) - len(self.matched)

    @property
    def precision(self) -> float | None:
        return self.true_positives / len(self.events) if self.events else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / len(self.truth) if self.truth else None

    @property
    def folded_hits(self) -> int:
        """Spans with an event whose text equals theirs once O/0 and I/1 are folded."""
        hits = set(self.matched)
        for e in self.events:
            if e.outcome == WRONG_TEXT and e.span is not None and fold_label_quirks(e.event.text) == fold_label_quirks(self.truth[e.span].text):
                hits.add(e.span)
        return len(hits)

    @property
    def merged(self) -> int:
        """Events whose sightings cover two truth spans one after the other: two
        vehicles made into one event (the worst outcome: a car lost, a plate invented)."""
        return sum(1 for e in self.events if self._covers_two_in_turn(e.event))

    def _covers_two_in_turn(self, event: EventRecord) -> bool:
        """Its sightings cover two spans one after the other (side-by-side spans,
        overlapping in time, cannot be told apart by time alone)."""
        spans = sorted((self.truth[i] for i in self.spans_covered(event)), key=lambda s: s.start_s)
        return any(b.start_s >= a.end_s for a, b in zip(spans, spans[1:]))

    def spans_covered(self, event: EventRecord, inset_s: float = 0.25) -> list[int]:
        if event.first_s is None or event.last_s is None:
            return []
        return [i for i, s in enumerate(self.truth)
                if min(event.last_s, s.end_s - inset_s) - max(event.first_s, s.start_s + inset_s) > 0]

    def delays(self) -> list[float]:
        """Seconds from each matched span's end (the car's last frame) to its event."""
        return [self.events[e].event.arrived_s - self.truth[i].end_s for i, e in self.matched.items()
                if self.events[e].event.arrived_s is not None]

    def to_dict(self) -> dict:
        delays = sorted(self.delays())
        return {
            'true_positives': self.true_positives,
            'exact': self.true_positives / len(self.truth) if self.truth else None,
            'exact_folded': self.folded_hits / len(self.truth) if self.truth else None,
            'missed': self.missed,
            'wrong_text': self.count(WRONG_TEXT),
            'duplicates': self.count(DUPLICATE),
            'merged': self.merged,
            'false_events': self.count(FALSE_EVENT),
            'events_per_span': len(self.events) / len(self.truth) if self.truth else None,
            'delay_s': ({'p50': round(statistics.median(delays), 2), 'max': round(delays[-1], 2)}
                        if delays else None),
            'precision': self.precision,
            'recall': self.recall,
            'tolerance_s': self.tolerance_s,
            'events': [{**asdict(e.event), 'outcome': e.outcome, 'span': e.span,
                        'truth': self.truth[e.span].text if e.span is not None else None}
                       for e in self.events],
            'spans': [{**asdict(s), 'matched': i in self.matched,
                       'event_id': self.events[self.matched[i]].event.event_id if i in self.matched else None}
                      for i, s in enumerate(self.truth)],
        }


def parse_truth(text: str, yaml_format: bool = False) -> list[TruthSpan]:
    rows: list = []
    if yaml_format:
        try:
            data = yaml.safe_load(text) or []
        except yaml.YAMLError as exc:
            raise TruthError(f'truth YAML: {exc}') from exc
        if isinstance(data, dict):
            data = data.get('plates', [])
        if not isinstance(data, list):
            raise TruthError('truth YAML must be a list of {text, start_s, end_s}')
        for item in data:
            if not isinstance(item, dict):
                raise TruthError(f'truth YAML entry is not a mapping: {item!r}')
            rows.append([item.get('text'), item.get('start_s'), item.get('end_s')])
    else:
        for number, line in enumerate(text.splitlines(), 1):
            row = [c.strip() for c in next(csv.reader([line.split('#', 1)[0]]), [])]
            if not any(row) or row[:1] == ['text']:
                continue
            rows.append((number, row))
    if yaml_format:
        rows = list(enumerate(rows, 1))
    spans, problems = [], []
    for number, row in rows:
        try:
            spans.append(_span(row))
        except TruthError as exc:
            where = 'entry' if yaml_format else 'line'
            problems.append(f'{where} {number}: {exc}')
    if problems:
        raise TruthError('truth file: ' + '; '.join(problems))
    return spans


def _span(row) -> TruthSpan:
    if len(row) != 3 or not row[0]:
        raise TruthError(f'must be text,start_s,end_s: {row!r}')
    try:
        start, end = float(row[1]), float(row[2])
    except (TypeError, ValueError):
        raise TruthError(f'times must be numbers: {row!r}') from None
    if end < start:
        raise TruthError(f'span ends before it starts: {row!r}')
    return TruthSpan(str(row[0]), start, end)


def load_truth(path: Path | str) -> list[TruthSpan]:
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as exc:
        raise TruthError(f'cannot read truth file {path}: {exc}') from exc
    return parse_truth(text, yaml_format=path.suffix.lower() in ('.yaml', '.yml'))


def _distance(span: TruthSpan, t: float) -> float:
    return max(span.start_s - t, 0.0, t - span.end_s)


def score(truth: Sequence[TruthSpan], events: Iterable[EventRecord],
          tolerance_s: float = DEFAULT_TOLERANCE_S) -> Score:
    result = Score(list(truth), [], tolerance_s)
    for event in sorted(events, key=lambda e: e.stamp_s):
        near = [i for i, s in enumerate(result.truth) if _distance(s, event.stamp_s) <= tolerance_s]
        same = [i for i in near if compact(result.truth[i].text) == compact(event.text)]
        free = [i for i in same if i not in result.matched]
        if free:
            span = min(free, key=lambda i: (_distance(result.truth[i], event.stamp_s), result.truth[i].start_s))
            result.matched[span] = len(result.events)
            scored = ScoredEvent(event, TRUE_POSITIVE, span)
        elif same:
            scored = ScoredEvent(event, DUPLICATE, same[0])
        elif near:
            scored = ScoredEvent(event, WRONG_TEXT, min(near, key=lambda i: _distance(result.truth[i], event.stamp_s)))
        else:
            scored = ScoredEvent(event, FALSE_EVENT, None)
        result.events.append(scored)
    return result


def summary_line(s: Score) -> str:
    def fmt(x):
        return 'n/a' if x is None else f'{x:.2f}'
    d = s.to_dict()
    delay = f", delay p50 {d['delay_s']['p50']:.1f} s" if d['delay_s'] else ''
    return (f"{d['true_positives']}/{len(s.truth)} plates read (recall {fmt(s.recall)}, precision "
            f"{fmt(s.precision)}, folded {s.folded_hits}/{len(s.truth)}): {len(s.events)} events, "
            f"missed {d['missed']}, wrong text {d['wrong_text']}, duplicates {d['duplicates']}, "
            f"merged {d['merged']}, false events {d['false_events']}{delay}")


# -- idle detection (pure) ------------------------------------------------------

# Counters that move while a node works; frozen for IDLE_QUIET_S = idle.
_PROGRESS = {'detector': ('frames', 'dropped'), 'ocr': ('handled', 'dropped', 'pending'),
             'recorder': ('queued', 'ignored_reads')}


def progress(status: dict[str, dict[str, str]]) -> tuple:
    return tuple(status.get(node, {}).get(key) for node, keys in _PROGRESS.items() for key in keys)


def queues_empty(status: dict[str, dict[str, str]]) -> bool:
    return (status.get('ocr', {}).get('pending') in (None, '0')
            and status.get('recorder', {}).get('queued') in (None, '0'))


def wait_idle(get_status: Callable[[], dict], quiet_s: float = IDLE_QUIET_S, timeout_s: float = 120.0,
              cancel: threading.Event | None = None, poll_s: float = 0.1) -> bool:
    """True once no node made progress for ``quiet_s`` and no queue holds work."""
    end = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < end and not (cancel is not None and cancel.is_set()):
        status = get_status()
        snap = progress(status)
        now = time.monotonic()
        if snap != last:
            last, since = snap, now
        elif now - since >= quiet_s and queues_empty(status):
            return True
        time.sleep(poll_s)
    return False


# -- the run (graph + player) -------------------------------------------------

def _stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _eval_params(params_file: Path) -> Path:
    """The user's params plus a short status period for every node (idle detection)."""
    data = yaml.safe_load(params_file.read_text()) or {}
    data.setdefault('/**', {}).setdefault('ros__parameters', {})['status_period'] = STATUS_PERIOD_S
    fd, path = tempfile.mkstemp(prefix='lpr-eval-params-', suffix='.yaml')
    with os.fdopen(fd, 'w') as f:
        yaml.safe_dump(data, f)
    return Path(path)


def frames_topic(reader, name: str = topics.FRAMES.name) -> str:
    """The bag's frames topic: ``/<recorded ns>/image_raw``, else the one topic ending in it."""
    from lpr_tools.bag import BagError
    if reader.namespace and f'/{reader.namespace}/{name}' in reader.topics:
        return f'/{reader.namespace}/{name}'
    found = [t for t in reader.topics if t.endswith('/' + name)]
    if len(found) != 1:
        listed = ', '.join(sorted(reader.topics)) or 'none'
        raise BagError(f'{reader.path}: cannot tell its {name} topic among {listed}')
    return found[0]


@dataclass
class EvalRun:
    events: list = field(default_factory=list)      # PlateEvent messages (final)
    arrivals: dict = field(default_factory=dict)    # event id -> wall-clock ns it reached the monitor
    bag_start_ns: int = 0
    played: int = 0
    played_s: float = 0.0
    idle: bool = False
    status: dict = field(default_factory=dict)
    code: int = 0
    error: str = ''


def _status(runner) -> dict:
    monitor = runner.monitor
    try:
        return dict(monitor.status) if monitor is not None else {}
    except RuntimeError:   # the monitor thread added a node meanwhile
        return {}


def run_bag_through_graph(bag: Path, options, rate: float = 1.0, log=print) -> EvalRun:
    """Start the graph without camera, play the bag's frames into its namespace,
    wait for idle, stop in order; returns the final events and the figures."""
    from lpr_tools import bag as bagmod
    from lpr import graph
    reader = bagmod.BagReader(bag)
    topic = frames_topic(reader)
    first = next(reader.messages([topic]), None)
    if first is None:
        raise bagmod.BagError(f'{bag}: {topic} holds no frames')

    def make_player():
        return bagmod.BagPlayer(bag, namespace=options.namespace, topics=[topic], dds_env=graph.dds_environment())

    start_ns = bagmod.header_stamp_ns(first.data) or first.log_time_ns
    return run_player_through_graph(make_player, topic, reader.topics[topic].count, start_ns, options, rate, log)


def run_video_through_graph(video: Path, options, rate: float = 1.0, log=print) -> EvalRun:
    """The same with a video file's frames (lpr_tools.video_eval.VideoPlayer)."""
    from lpr import graph
    from lpr_tools.video_eval import FRAMES_TOPIC, VideoPlayer
    player = VideoPlayer(video, options.namespace, graph.dds_environment())
    return run_player_through_graph(lambda: player, FRAMES_TOPIC, player.count, player.start_ns, options, rate, log)


def run_player_through_graph(make_player: Callable, topic: str, count: int, start_ns: int, options,
                             rate: float = 1.0, log=print) -> EvalRun:
    """Start the graph without camera, play frames into its namespace with the
    player ``make_player()`` builds, wait for idle, stop in order."""
    from lpr.runner import GraphRunner
    out = EvalRun(bag_start_ns=start_ns)
    runner = GraphRunner(options)
    cancel = threading.Event()
    holder: dict = {}

    def drive() -> None:
        try:
            player = make_player()
            holder['player'] = player
            if cancel.is_set():
                return
            if not player.wait_for_subscribers(SUBSCRIBER_TIMEOUT_S):
                if not cancel.is_set():
                    out.error = f'no subscriber on {player.played_names[topic]} after {SUBSCRIBER_TIMEOUT_S:.0f} s'
                return
            deadline = time.monotonic() + SUBSCRIBER_TIMEOUT_S   # as the camera: only once every node is active
            while not runner.all_active() and time.monotonic() < deadline and not cancel.is_set():
                time.sleep(0.1)
            log(f'[lpr] eval: playing {count} frames at rate {rate or "max"}')
            out.played_s = player.play(rate)
            out.bag_start_ns = getattr(player, 'start_ns', out.bag_start_ns)   # a video is stamped as played
            out.played = player.published[topic]
            if not cancel.is_set():
                out.idle = wait_idle(lambda: _status(runner), cancel=cancel)
                log(f"[lpr] eval: played {out.played} frames in {out.played_s:.1f} s; "
                    f"{'graph idle' if out.idle else 'graph still busy'}, stopping it")
        except Exception as exc:  # noqa: BLE001 - reported, the graph is stopped either way
            out.error = f'{type(exc).__name__}: {exc}'
        finally:
            runner.request_stop('evaluation finished')

    def on_signal(*_):
        cancel.set()
        if 'player' in holder:
            holder['player'].cancel()
        runner.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    driver = threading.Thread(target=drive, name='lpr-eval-player', daemon=True)
    try:
        runner.start()
        driver.start()
        out.code = runner.wait()      # returns once drive() asks, a node dies, or Ctrl-C
    except BaseException:
        runner.stop()
        raise
    finally:
        cancel.set()
        if 'player' in holder:
            holder['player'].cancel()
        if driver.is_alive():
            driver.join(10.0)
        if 'player' in holder:
            holder['player'].close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.events = list(runner.monitor_events)
    out.arrivals = dict(runner.monitor_arrivals)
    out.status = dict(runner.last_status)
    return out


def cmd_eval_bag(args) -> int:
    """``lpr eval --bag BAG|--video CLIP --truth TRUTH [--json OUT] [--tolerance S] [--rate R]``."""
    from lpr import graph
    from lpr_tools.models import plate_model_status
    from lpr.runner import RunOptions
    source_flag = '--video' if getattr(args, 'video', None) else '--bag'
    if not args.truth:
        print(f'error: {source_flag} needs --truth', file=sys.stderr)
        return 2
    try:
        truth = load_truth(args.truth)
    except TruthError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    state, path = plate_model_status()
    if state != 'ok':
        print(f'error: plate model {state}: {path}; run `lpr models install`', file=sys.stderr)
        return 2
    params = _eval_params(Path(args.params or graph.default_params_file()))
    data_dir = args.data_dir or tempfile.mkdtemp(prefix='lpr-eval-data-')
    options = RunOptions(params_file=params, namespace=f'lpr_eval_{os.getpid()}', data_dir=data_dir,
                         bridge=False, with_camera=False, log_level=args.log_level,
                         respawn=0)   # a node that dies spoils the figures: stop and say so

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        if getattr(args, 'video', None):
            from lpr_tools.video_eval import VideoError
            try:
                run = run_video_through_graph(Path(args.video), options, rate=args.rate, log=log)
            except VideoError as exc:
                print(f'error: {exc}', file=sys.stderr)
                return 2
        else:
            run = run_bag_through_graph(Path(args.bag), options, rate=args.rate, log=log)
    finally:
        params.unlink(missing_ok=True)
        if not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    if run.error:
        log(f'[lpr] eval: {run.error}')
    def seconds(ns):
        return (ns - run.bag_start_ns) / 1e9

    records = [EventRecord(e.best.text, seconds(_stamp_ns(e.header.stamp)), e.event_id,
                           round(float(e.best.confidence), 4), int(e.read_count),
                           seconds(_stamp_ns(e.first_seen)), seconds(_stamp_ns(e.last_seen)),
                           seconds(run.arrivals[e.event_id])
                           if getattr(args, 'video', None) and args.rate == 1.0 and e.event_id in run.arrivals
                           else None)
               for e in run.events]
    result = score(truth, records, DEFAULT_TOLERANCE_S if args.tolerance is None else args.tolerance)
    det = run.status.get('detector', {})
    log(f"[lpr] eval: detector processed {det.get('frames', '?')} of {run.played} frames "
        f"(dropped {det.get('dropped', '?')}: the newest frame wins when it is busy)")
    for e in result.events:
        log(f'[lpr] eval:   {e.event.stamp_s:7.2f} s  {e.event.text:<10} {e.outcome:<13} '
            f'{"(truth " + result.truth[e.span].text + ")" if e.span is not None else ""}')
    for i, span in enumerate(result.truth):
        if i not in result.matched:
            log(f'[lpr] eval:   missed {span.text} ({span.start_s:.1f}-{span.end_s:.1f} s)')
    print(f'[lpr] eval: {summary_line(result)}', flush=True)
    if args.json:
        report = {'bag': str(args.bag) if args.bag else None,
                  'video': str(args.video) if getattr(args, 'video', None) else None, 'truth': str(args.truth), 'bag_start_ns': run.bag_start_ns,
                  'frames_played': run.played, 'graph_idle': run.idle, 'error': run.error or None,
                  'node_status': run.status, **result.to_dict()}
        Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
    if run.code == 130:
        return 130
    return 1 if (run.code or run.error) else 0
