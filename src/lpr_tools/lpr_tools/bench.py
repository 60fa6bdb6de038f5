"""`lpr bench`: where the time goes, per frame and per node.

Three parts, each with its own small result:

1. :func:`bench_in_process`: the cores the nodes run, in this process, no ROS
   graph, one frame after another: decode, the frame message a process
   boundary costs (serialize on the sending side, deserialize on the receiving
   side), detection, OCR of every plate found, the detector's JPEG of the
   frame, the recorder's pass aggregation, and the durable commit of an event
   (once per pass, so measured on its own).
2. :func:`bench_graph`: the real graph (one process per node, DDS) on the same
   source through :func:`lpr.runner.run`: frames published and processed, CPU
   and peak RSS per node, capture-to-read latency (reported by the recorder on
   /diagnostics) and how long after a plate's last sighting its event appeared.
3. :func:`compare`: in-process frames per second against the graph's, and what
   the frame transport costs per frame.

Timings are single runs on a shared machine: compare ratios within one run.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

SYNTHETIC = 'synthetic:1'
SYNTHETIC_CARS = 1        # one car keeps the graph part short (~7 s of scene)
COMMITS = 5               # events committed to time commit_event

STAGES = {
    'decode': 'cv2.VideoCapture.read, or rendering the synthetic frame',
    'to_msg': 'array_to_image + serialize_message (sending side of a process boundary)',
    'from_msg': 'deserialize_message + image_to_array (receiving side)',
    'detect': 'PlateFinder.find (YOLOv8n, ONNX Runtime) + crops',
    'ocr': 'PlateOcr.read of every plate found in the frame',
    'frame_jpeg': "the detector's JPEG of the frame (frames with plates only)",
    'record': 'Observation + PassAggregator.add for every read of the frame',
    'commit_event': 'EventWriter.commit: frame + plate JPEG fsynced, SQLite row (once per pass)',
}


class BenchError(ValueError):
    """A source the bench cannot use."""


# -- results -------------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    name: str
    n: int
    p50_ms: float
    p90_ms: float
    mean_ms: float

    @classmethod
    def of(cls, name: str, samples_ms: list[float]) -> 'Stage':
        if not samples_ms:
            return cls(name, 0, 0.0, 0.0, 0.0)
        a = np.asarray(samples_ms, dtype=float)
        return cls(name, len(a), round(float(np.percentile(a, 50)), 4),
                   round(float(np.percentile(a, 90)), 4), round(float(a.mean()), 4))


@dataclass
class InProcessResult:
    source: str
    frames: int
    width: int
    height: int
    plates_found: int        # over all frames
    plates_read: int         # of them with a text
    events: int              # final decisions the aggregator made over these frames
    load_s: float            # building the detector and OCR from the params
    stages: list[Stage]
    fps: float               # 1000 / mean(detect + ocr): sequential, one thread each

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


@dataclass(frozen=True)
class NodeUsage:
    name: str
    cpu_s: float
    cpu_share: float         # of one core, over the process's lifetime (incl. start-up)
    peak_rss_mb: float


@dataclass(frozen=True)
class EventTiming:
    text: str
    read_count: int
    last_seen: float         # capture time of the last read in the pass (epoch s)
    printed_at: float        # when the runner got the event (epoch s)
    event_delay_s: float     # printed_at - last_seen
    closed_by: str           # 'gap' (no read for gap_s) or 'end' (the flush when the graph stopped)


@dataclass
class GraphResult:
    source: str
    exit_code: int
    wall_s: float                      # runner start to stop, incl. start-up and shutdown
    source_fps: float
    frames_published: int | None       # camera
    frames_processed: int | None       # detector (its last periodic status)
    frames_read: int | None            # reads messages at the recorder (frames through OCR)
    detector_dropped: int | None       # frames replaced while the detector was busy (last periodic status)
    ocr_handled: int | None            # detection messages read (last periodic status)
    ocr_dropped: int | None            # detection messages dropped from OCR's queue (same)
    processed_fps: float | None        # detector frames over the playing time
    read_fps: float | None             # recorder frames over the playing time
    read_latency_ms_p50: float | None  # capture stamp -> reads at the recorder
    read_latency_ms_p90: float | None
    read_latency_n: int | None
    gap_s: float
    runner_rss_mb: float = 0.0         # the runner when it spawned the nodes: a floor under their peak RSS
    events: list[EventTiming] = field(default_factory=list)
    nodes: list[NodeUsage] = field(default_factory=list)
    status: dict = field(default_factory=dict)   # last /diagnostics values per node


@dataclass(frozen=True)
class Comparison:
    in_process_fps: float
    graph_processed_fps: float | None
    graph_read_fps: float | None
    transport_ms: float                # to_msg + from_msg, mean per frame
    transport_share: float             # of in-process detect + OCR


@dataclass
class BenchResult:
    machine: dict
    in_process: InProcessResult
    graph: GraphResult | None = None
    comparison: Comparison | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# -- sources -----------------------------------------------------------------

def default_source() -> str:
    """The embedded synthetic scene: the same on every machine and from any directory
    (real footage: ``--source FILE``)."""
    return SYNTHETIC


def is_synthetic(source: str) -> bool:
    return source.split(':', 1)[0].lower() == 'synthetic'


def synthetic_config(source: str, params_file: Path | None = None):
    """The SceneConfig the camera node uses for ``source`` with the bench's car count."""
    from lpr_camera.config import CameraConfig
    from lpr_camera.scene import scene_config
    from lpr_common.config import build_config

    from lpr import graph
    from lpr.params import node_parameters
    values = node_parameters(params_file or graph.default_params_file(), 'camera')
    values.update(source=source, synthetic_cars=SYNTHETIC_CARS)
    _, _, seed = source.partition(':')
    config = scene_config(build_config(CameraConfig, values))
    return dataclasses.replace(config, seed=int(seed or 0))


def frames(source: str, count: int, params_file: Path | None = None) -> Iterator[tuple[np.ndarray, float]]:
    """(BGR frame, decode ms) for up to ``count`` frames. The synthetic scene starts
    at the first frame with a plate fully in view, so short runs see plates."""
    if is_synthetic(source):
        from lpr_camera.synthetic import SyntheticScene
        scene = SyntheticScene(synthetic_config(source, params_file))
        start = next((i for i in range(scene.num_frames) if any(t.fully_visible for t in scene.truth(i))), 0)
        for i in range(count):
            t0 = time.perf_counter()
            image = scene.frame(start + i)
            yield image, (time.perf_counter() - t0) * 1000.0
        return
    import cv2
    if not Path(source).is_file():
        raise BenchError(f'bench takes a video file or synthetic[:SEED], not {source!r}')
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise BenchError(f'cannot open video file {source!r}')
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            ok, image = capture.read()
            ms = (time.perf_counter() - t0) * 1000.0
            if not ok:
                return
            yield image, ms
    finally:
        capture.release()


def source_fps(source: str, params_file: Path | None = None) -> float:
    if is_synthetic(source):
        return float(synthetic_config(source, params_file).fps)
    import cv2
    capture = cv2.VideoCapture(source)
    try:
        return float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()


# -- 1. in one process -----------------------------------------------------------

def _configs(params_file: Path | None):
    from lpr_common.config import build_config
    from lpr_detector.config import DetectorConfig
    from lpr_recorder.config import RecorderConfig

    from lpr import graph
    from lpr.params import node_parameters
    params_file = params_file or graph.default_params_file()
    return (build_config(DetectorConfig, node_parameters(params_file, 'detector')),
            build_config(RecorderConfig, node_parameters(params_file, 'recorder')))


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000.0


class _Stages:
    """The cores one frame goes through, each stage timed into ``times``."""

    def __init__(self, params_file: Path | None, fps: float):
        from lpr_tools.evaluate import Pipeline
        from lpr_recorder.passes import PassAggregator
        self.detector_config, self.recorder_config = _configs(params_file)
        self.pipeline, load_ms = _timed(Pipeline.from_params, params_file)
        self.load_s = load_ms / 1000.0
        self.aggregator = PassAggregator(self.recorder_config.pass_config())
        self.period_ns = int(1e9 / fps)
        self.base_ns = time.time_ns()
        self.times: dict[str, list[float]] = {name: [] for name in STAGES}
        self.found = self.read = 0
        self.finals: list = []

    def _time(self, stage: str, fn, *args):
        out, ms = _timed(fn, *args)
        self.times[stage].append(ms)
        return out

    def frame(self, seq: int, image: np.ndarray, decode_ms: float) -> None:
        from lpr_common.images import encode_jpeg
        self.times['decode'].append(decode_ms)
        data = self._time('to_msg', _to_msg, image)
        self._time('from_msg', _from_msg, data)
        found = self._time('detect', self.pipeline.finder.find, image)
        reads = self._time('ocr', self._read_all, found)
        self.found += len(found)
        self.read += sum(1 for r in reads if r.text)
        jpeg = self._time('frame_jpeg', encode_jpeg, image, self.detector_config.jpeg_quality) if found else None
        stamp_ns = self.base_ns + seq * self.period_ns   # as if captured at the source's rate
        self._time('record', self._record, stamp_ns, seq, found, reads, jpeg)

    def flush(self) -> None:
        from lpr_recorder.passes import FINAL
        self.finals += [d for d in self.aggregator.flush() if d.stage == FINAL]

    def _read_all(self, found) -> list:
        return [self.pipeline.ocr.read(f.crop, (f.box.x - f.crop_rect[0], f.box.y - f.crop_rect[1],
                                                f.box.width, f.box.height)) for f in found]

    def _record(self, stamp_ns: int, seq: int, found, reads, jpeg) -> None:
        """What the recorder does per reads message (minus the message)."""
        from lpr_recorder.passes import FINAL, Observation
        from lpr_recorder.writer import Evidence
        for f, r in zip(found, reads):
            if r.text:
                b = f.box
                obs = Observation('bench', stamp_ns, r.text, float(r.confidence), (b.x, b.y, b.width, b.height),
                                  tuple(r.char_confidences), r.region, r.format,
                                  payload=Evidence(jpeg, f.crop, seq))
                self.finals += [d for d in self.aggregator.add(obs) if d.stage == FINAL]


def _to_msg(image: np.ndarray) -> bytes:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from lpr_common.images import array_to_image
    msg = Image()
    array_to_image(image, msg)
    return serialize_message(msg)


def _from_msg(data: bytes) -> np.ndarray:
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    from lpr_common.images import image_to_array
    return image_to_array(deserialize_message(data, Image))


def bench_in_process(source: str, count: int, params_file: Path | None = None,
                     work_dir: Path | None = None) -> InProcessResult:
    """Every stage on ``count`` frames of ``source``, one after another, no ROS graph."""
    stages = _Stages(params_file, source_fps(source, params_file) or 30.0)
    image, n = None, 0
    for n, (image, decode_ms) in enumerate(frames(source, count, params_file)):
        stages.frame(n, image, decode_ms)
    if image is None:
        raise BenchError(f'no frames from {source!r}')
    stages.flush()
    times = stages.times
    times['commit_event'] = _bench_commit(stages.finals, image, stages.recorder_config, work_dir)
    per_frame_ms = float(np.add(times['detect'], times['ocr']).mean())
    return InProcessResult(
        source=source, frames=n + 1, width=image.shape[1], height=image.shape[0],
        plates_found=stages.found, plates_read=stages.read, events=len(stages.finals),
        load_s=round(stages.load_s, 3), stages=[Stage.of(name, times[name]) for name in STAGES],
        fps=round(1000.0 / per_frame_ms, 2) if per_frame_ms > 0 else 0.0)


def _bench_commit(finals: list, last_image: np.ndarray, recorder_config, work_dir: Path | None) -> list[float]:
    """Commit ``COMMITS`` events (the first final decision under new ids) to a fresh
    journal and image store, as the recorder does: images fsynced, then the row."""
    from lpr_common.images import encode_jpeg
    from lpr_recorder.images import ImageStore
    from lpr_recorder.journal import Journal, sqlite_url
    from lpr_recorder.writer import EventWriter

    decision = finals[0] if finals else _stand_in_decision(last_image, encode_jpeg)
    samples = []
    with tempfile.TemporaryDirectory(prefix='lpr-bench-', dir=work_dir) as tmp:
        journal = Journal(sqlite_url(Path(tmp) / 'journal.sqlite'))
        store = ImageStore(Path(tmp) / 'images')
        writer = EventWriter(journal, store, 'bench', recorder_config.save_frame,
                             recorder_config.save_plate, recorder_config.jpeg_quality)
        try:
            for _ in range(COMMITS):
                d = dataclasses.replace(decision, event_id=str(uuid.uuid4()))
                _, ms = _timed(writer.commit, d)
                samples.append(ms)
        finally:
            journal.close()
    return samples


def _stand_in_decision(image: np.ndarray, encode_jpeg):
    """A final decision with real-sized images, for a source where nothing was read."""
    from lpr_recorder.passes import FINAL, Decision, Observation
    from lpr_recorder.writer import Evidence
    h, w = image.shape[:2]
    crop = np.ascontiguousarray(image[h // 2 - 40:h // 2 + 40, w // 2 - 120:w // 2 + 120])
    now = time.time_ns()
    obs = Observation('bench', now, 'BENCH1', 0.9, (w / 2 - 100, h / 2 - 25, 200.0, 50.0),
                      payload=Evidence(encode_jpeg(image, 90), crop, 0))
    return Decision(FINAL, str(uuid.uuid4()), 'bench', 'BENCH1', 0.9, now, now, 2, obs, (('BENCH1', 1.0),))


# -- 2. the graph ----------------------------------------------------------------

def _number(values: dict, key: str, kind=float):
    try:
        return kind(float(values[key]))
    except (KeyError, TypeError, ValueError):
        return None


def _bench_params(source: str, params_file: Path | None, directory: Path) -> Path:
    """The params file, with the bench's car count for a synthetic source."""
    from lpr import graph
    params_file = Path(params_file or graph.default_params_file())
    if not is_synthetic(source):
        return params_file
    import yaml
    data = yaml.safe_load(params_file.read_text()) or {}
    camera = data.setdefault('/**/camera', {}).setdefault('ros__parameters', {})
    camera['synthetic_cars'] = SYNTHETIC_CARS
    path = directory / 'params.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


def bench_graph(source: str, params_file: Path | None = None, on_event: Callable | None = None,
                log_level: str = 'warn') -> GraphResult:
    """The real graph (bridge off, journal and images in a temp folder) on ``source``."""
    from lpr.runner import RunOptions, run
    _, recorder_config = _configs(params_file)
    got: list[tuple[float, object]] = []

    def event(msg) -> None:
        got.append((time.time(), msg))
        if on_event is not None:
            on_event(msg)

    with tempfile.TemporaryDirectory(prefix='lpr-bench-') as tmp:
        options = RunOptions(params_file=_bench_params(source, params_file, Path(tmp)),
                             namespace=f'bench{os.getpid()}',   # apart from other graphs on this host
                             source=source, data_dir=str(Path(tmp) / 'data'), bridge=False,
                             log_level=log_level, respawn=0)
        started = time.monotonic()
        code, runner = run(options, on_event=event)
        wall_s = time.monotonic() - started
    # This process's peak so far: the runner with its monitor, as the nodes were spawned.
    runner_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    result = graph_result(source, code, wall_s, source_fps(source, params_file), recorder_config.gap_s,
                          runner.last_status, runner.cpu_report(), got)
    result.runner_rss_mb = runner_rss_mb
    return result


def graph_result(source: str, code: int, wall_s: float, fps: float, gap_s: float, status: dict,
                 cpu: list[tuple[str, float, float, float]], events: list[tuple[float, object]]) -> GraphResult:
    cam, det, ocr, rec = (status.get(k, {}) for k in ('camera', 'detector', 'ocr', 'recorder'))
    published = _number(cam, 'frames', int)
    processed = _number(det, 'frames', int)
    read = _number(rec, 'frames', int)
    playing_s = published / fps if published and fps else None

    def rate(count):
        return round(count / playing_s, 2) if count is not None and playing_s else None

    timings = []
    for printed_at, msg in events:
        last_seen = msg.last_seen.sec + msg.last_seen.nanosec / 1e9
        delay = printed_at - last_seen
        timings.append(EventTiming(msg.best.text, int(msg.read_count), round(last_seen, 3),
                                   round(printed_at, 3), round(delay, 3),
                                   'gap' if delay >= gap_s else 'end'))
    return GraphResult(
        source=source, exit_code=code, wall_s=round(wall_s, 2), source_fps=fps,
        frames_published=published, frames_processed=processed, frames_read=read,
        detector_dropped=_number(det, 'dropped', int), ocr_handled=_number(ocr, 'handled', int),
        ocr_dropped=_number(ocr, 'dropped', int),
        processed_fps=rate(processed), read_fps=rate(read),
        read_latency_ms_p50=_number(rec, 'read_latency_ms_p50'),
        read_latency_ms_p90=_number(rec, 'read_latency_ms_p90'),
        read_latency_n=_number(rec, 'read_latency_n', int), gap_s=gap_s, events=timings,
        nodes=[NodeUsage(name, round(c, 2), round(share, 3), round(rss, 1)) for name, c, share, rss in cpu],
        status=status)


# -- 3. comparison -----------------------------------------------------------------

def compare(in_process: InProcessResult, graph: GraphResult | None) -> Comparison:
    transport = in_process.stage('to_msg').mean_ms + in_process.stage('from_msg').mean_ms
    work = in_process.stage('detect').mean_ms + in_process.stage('ocr').mean_ms
    return Comparison(in_process.fps, graph.processed_fps if graph else None,
                      graph.read_fps if graph else None, round(transport, 3),
                      round(transport / work, 4) if work else 0.0)


def machine() -> dict:
    return {'cpus': os.cpu_count(), 'platform': platform.platform(), 'python': platform.python_version(),
            'loadavg_1m': round(os.getloadavg()[0], 2)}


def bench(source: str, count: int, params_file: Path | None = None, with_graph: bool = True,
          on_event: Callable | None = None, log_level: str = 'warn') -> BenchResult:
    # The graph first, while this process is small: a child's peak RSS starts at
    # its parent's RSS when it was spawned (exec keeps the old high-water mark).
    info = machine()
    graph = bench_graph(source, params_file, on_event, log_level) if with_graph else None
    result = BenchResult(info, bench_in_process(source, count, params_file), graph)
    result.comparison = compare(result.in_process, result.graph)
    result.machine['loadavg_1m_after'] = round(os.getloadavg()[0], 2)
    return result


# -- report --------------------------------------------------------------------

def _fmt(value, spec: str = '.1f', none: str = '?') -> str:
    return none if value is None else format(value, spec)


def report(result: BenchResult) -> str:
    ip, g, c, m = result.in_process, result.graph, result.comparison, result.machine
    lines = [f"source {ip.source}  {ip.width}x{ip.height}  ({m['cpus']} CPUs, Python {m['python']}, "
             f"load {m['loadavg_1m']} -> {m.get('loadavg_1m_after', '?')})",
             '',
             f'1. in one process, no ROS graph ({ip.frames} frames; models loaded in {ip.load_s:.1f} s)',
             f"   {'stage':<13}{'n':>5}{'p50 ms':>9}{'p90 ms':>9}{'mean ms':>9}  what"]
    for s in ip.stages:
        lines.append(f'   {s.name:<13}{s.n:>5}{s.p50_ms:>9.2f}{s.p90_ms:>9.2f}{s.mean_ms:>9.2f}  {STAGES[s.name]}')
    lines.append(f'   detect + OCR, one frame after another: {ip.fps:.1f} fps '
                 f'({ip.plates_found} plates found, {ip.plates_read} read, {ip.events} event(s))')
    if g is not None:
        lines += ['', f'2. the graph (one process per node, DDS, bridge off; the source plays in real time '
                      f'at {g.source_fps:g} fps)',
                  f'   wall {g.wall_s:.1f} s (incl. start-up and shutdown), exit code {g.exit_code}',
                  f'   frames: camera published {_fmt(g.frames_published, "d")}; detector processed '
                  f'{_fmt(g.frames_processed, "d")} ({_fmt(g.processed_fps)} fps), dropped '
                  f'{_fmt(g.detector_dropped, "d")}; OCR read {_fmt(g.ocr_handled, "d")}, dropped '
                  f'{_fmt(g.ocr_dropped, "d")} (detector and OCR: their last periodic status, up to 2 s old); '
                  f'reads at the recorder {_fmt(g.frames_read, "d")} ({_fmt(g.read_fps)} fps)',
                  f'   (fps = frames / (published frames / {g.source_fps:g} fps))',
                  f'   frame -> read (capture stamp -> reads at the recorder, frames with plates): '
                  f'p50 {_fmt(g.read_latency_ms_p50, ".0f")} ms, p90 {_fmt(g.read_latency_ms_p90, ".0f")} ms '
                  f'(n={_fmt(g.read_latency_n, "d")})']
        for e in g.events:
            why = (f'includes the pass gap gap_s={g.gap_s:g} s: a pass ends only after gap_s without a read'
                   if e.closed_by == 'gap' else
                   f'shorter than gap_s={g.gap_s:g} s: the plate was in view to the end, the pass was '
                   f'closed by the flush when the graph stopped')
            lines.append(f'   event {e.text} ({e.read_count} reads): event_delay {e.event_delay_s:.2f} s '
                         f'after its last sighting ({why})')
        if not g.events:
            lines.append('   no events')
        lines.append(f"   {'node':<10}{'CPU s':>7}{'share':>8}{'peak RSS':>10}")
        for n in g.nodes:
            lines.append(f'   {n.name:<10}{n.cpu_s:>7.1f}{100 * n.cpu_share:>7.0f}%{n.peak_rss_mb:>7.0f} MB')
        lines.append(f'   (CPU share of one core over each process lifetime, incl. ~1 s start-up; peak RSS '
                     f'includes the runner\'s {g.runner_rss_mb:.0f} MB at spawn, which exec keeps as high-water mark)')
    lines += ['', f'3. in-process {c.in_process_fps:.1f} fps (detect + OCR in sequence) vs graph '
                  f'{_fmt(c.graph_processed_fps)} fps at the detector, {_fmt(c.graph_read_fps)} fps through OCR '
                  f'(the graph pipelines its nodes over the cores, plays the source no faster than real '
                  f'time, and drops frames when busy); frame transport {c.transport_ms:.1f} ms per frame '
                  f'(to_msg + from_msg) = {100 * c.transport_share:.1f} % of detect + OCR']
    return '\n'.join(lines)


def cmd(args, on_event: Callable | None = None) -> int:
    """``lpr bench``: run, print the table, write the JSON."""
    import json
    source = args.source or default_source()
    print(f'[lpr] bench: {source}', file=sys.stderr, flush=True)
    try:
        result = bench(source, args.frames, args.params, with_graph=not args.no_graph, on_event=on_event)
    except BenchError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1))
    return 0 if result.graph is None or result.graph.exit_code == 0 else 1
