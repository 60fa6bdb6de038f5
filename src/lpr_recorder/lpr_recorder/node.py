"""Recorder node: plates/reads -> passes -> journal + plates/events."""
from __future__ import annotations

import threading
import time
from collections import deque

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lpr_interfaces.msg import IngestedEvent, PlateCandidate, PlateEvent, PlateRead, PlateReadArray

from lpr_common import topics
from lpr_common.health import disk_free_gb, temperature_c
from lpr_common.images import ImageError, image_to_array
from lpr_common.node import ERROR, OK, LprNode, run_node
from lpr_common.worker import Worker
from lpr_recorder.config import RecorderConfig
from lpr_recorder.health_rows import WRITE_INTERVAL_S, LatestHealth, rows_of
from lpr_recorder.health_store import write_rows
from lpr_recorder.images import ImageStore, ImageStoreError, resolve_image_dir
from lpr_recorder.journal import Event, Journal, JournalError, resolve_url
from lpr_recorder.passes import FINAL, Decision, Observation, PassAggregator
from lpr_recorder.recovery import recover
from lpr_recorder.retention import Retention, policy_from_config
from lpr_recorder.spool import Spool, SpoolError
from lpr_recorder.validate import BadRead, clean_read
from lpr_recorder.writer import EventWriter, Evidence


_RETENTION = object()   # worker item: run retention
_DRAIN = object()       # worker item: commit the spooled events
_HEALTH = object()      # health worker item: write the node_health rows that are due


class _Stopped(Exception):
    """The node stopped while a write kept failing."""


class _Ingested:
    """Worker item: the decision of a plate an ANPR camera read itself,
    skipped when its event id is already in the journal (a retransmission)."""

    def __init__(self, decision: Decision):
        self.decision = decision


class SourceClock:
    """'Now' on the cameras' clock: the newest stamp seen plus the time since it
    arrived, so passes close correctly on live streams and on replayed bags."""

    def __init__(self):
        self._stamp_ns = None
        self._arrived = 0

    def seen(self, stamp_ns: int) -> None:
        if self._stamp_ns is None or stamp_ns >= self._stamp_ns:
            self._stamp_ns, self._arrived = stamp_ns, time.monotonic_ns()

    def now_ns(self) -> int | None:
        if self._stamp_ns is None:
            return None
        return self._stamp_ns + (time.monotonic_ns() - self._arrived)


class LatencyWindow:
    """The latest ``size`` latencies in milliseconds, summarised as p50/p90 for
    the status (linear interpolation between ranks, as numpy's default)."""

    def __init__(self, size: int = 500):
        self._values: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._values.append(float(ms))

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        rank = (len(ordered) - 1) * q / 100.0
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)

    def summary(self, prefix: str) -> dict[str, float]:
        """``{prefix_p50: .., prefix_p90: ..}``, empty before the first value."""
        if not self._values:
            return {}
        return {f'{prefix}_p50': self.percentile(50), f'{prefix}_p90': self.percentile(90)}


class RecorderNode(LprNode):
    config_class = RecorderConfig

    def __init__(self, name: str = 'recorder', **kwargs):
        super().__init__(name, **kwargs)
        self.journal: Journal | None = None
        self.spool: Spool | None = None
        self.writer: EventWriter | None = None
        self.worker: Worker | None = None
        self.passes: PassAggregator | None = None
        self.clock = SourceClock()
        self._stopping = threading.Event()
        self._sub = self._timer = self._ingest_sub = None
        self.committed = 0
        self._spool_waiting = True   # until a drain found the spool empty
        self._failing = False        # the last write attempt failed
        self._told: set[str] = set()   # kinds of refused input already logged
        self.frames = 0                      # reads messages received (frames through OCR)
        # Capture stamp -> reads arriving here, for frames with plates. Wall clock on
        # both sides (the camera stamps with time.time_ns()); meaningless for a
        # replayed bag, whose stamps are old.
        self.read_latency = LatencyWindow()
        # The graph's /diagnostics, kept per node and written to node_health by a
        # thread of its own: never in the way of event commits.
        self.health = LatestHealth()
        self._health_worker: Worker | None = None
        self._health_sub = self._health_timer = None

    def configure(self, config: RecorderConfig) -> None:
        store = ImageStore(resolve_image_dir(config.image_dir))
        store.check_writable()
        self.journal = Journal(resolve_url(config.db_url))
        report = recover(self.journal, store)   # before the first write: orphans, torn tmp files
        log = self.get_logger().warning if report.rows_missing_images else self.get_logger().info
        log(report.summary())
        self.writer = EventWriter(self.journal, store, config.site_id, config.save_frame,
                                  config.save_plate, config.jpeg_quality, config.save_processed,
                                  tuple(config.gps) if config.gps else None)
        self.passes = PassAggregator(config.pass_config())
        self.retention = Retention(self.journal, store, policy_from_config(config))
        self.spool = Spool(resolve_spool_dir(config.spool_dir))
        waiting = len(self.spool)
        if waiting:
            self.get_logger().warning(f'{waiting} event(s) spooled in {self.spool.root} while writes failed: '
                                      'committing them now')
        self.pub = self.create_lifecycle_publisher(PlateEvent, topics.EVENTS.name, topics.EVENTS.qos)
        self.get_logger().info(f'journal {self.journal.url}, images in {store.root}')

    def activate(self) -> None:
        self._stopping.clear()
        self.worker = Worker(self._commit, 'recorder', maxsize=self.config.queue_size,
                             on_error=self._on_error, on_full=self._spill)
        self.worker.submit(_DRAIN)   # events an earlier run spooled
        self._sub = self.create_subscription(PlateReadArray, topics.READS.name, self._on_reads, topics.READS.qos)
        self._ingest_sub = self.create_subscription(IngestedEvent, topics.INGESTED.name, self._on_ingested,
                                                    topics.INGESTED.qos)
        self._timer = self.create_timer(0.25, self._tick)
        self._retention_timer = self.create_timer(self.config.retention_period_s,
                                                  lambda: self.worker.submit(_RETENTION))
        self._start_health()

    def deactivate(self) -> None:
        self._stop_health()
        # Open passes become events first: this also runs after Ctrl-C, when the
        # ROS context may already be gone but the disk is still there.
        if self.passes is not None and self.worker is not None:
            self._dispatch(self.passes.flush())
            # A slow disk gets time to finish; while writes fail, what waits
            # goes to the spool at once.
            if not self.worker.wait_idle(2.0 if self._failing else 30.0):
                self._stopping.set()
            for item in self.worker.stop(drain=True, timeout=5.0):
                self._spill(item)
            self._final_status()
            self.worker = None
        if self._sub is not None:
            sub, timer, self._sub, self._timer = self._sub, self._timer, None, None
            self.destroy_subscription(sub)
            self.destroy_subscription(self._ingest_sub)
            self._ingest_sub = None
            self.destroy_timer(timer)
            self.destroy_timer(self._retention_timer)

    # -- the graph's health -> node_health --------------------------------------
    def _start_health(self) -> None:
        self._health_worker = Worker(self._write_health, 'recorder-health', maxsize=1,
                                     on_error=self._health_error)
        self._health_sub = self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS.name,
                                                    self._on_diagnostics, topics.DIAGNOSTICS.qos)
        # Twice per interval: each node's row is then written every 5 to 7.5 s.
        self._health_timer = self.create_timer(WRITE_INTERVAL_S / 2, lambda: self._health_worker.submit(_HEALTH))

    def _stop_health(self) -> None:
        if self._health_sub is not None:
            self.destroy_subscription(self._health_sub)
            self.destroy_timer(self._health_timer)
            self._health_sub = self._health_timer = None
        if self._health_worker is not None:
            self._health_worker.stop(drain=True, timeout=2.0)
            self._health_worker = None

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for row in rows_of(msg.status):
            self.health.offer(row)

    def _write_health(self, _item) -> None:
        rows = self.health.due()
        try:
            write_rows(self.journal.engine, rows)
        except Exception:
            self.health.retry(rows)   # due again at the next tick
            raise

    def _health_error(self, exc: BaseException) -> None:
        """Counted and logged; the node's level stays about events."""
        self.status.count('health_write_errors')
        self.get_logger().warning(f'node health not written: {exc}', throttle_duration_sec=60.0)

    def _final_status(self) -> None:
        """Publish the figures once more: the runner stops the process right after
        deactivating it, before the next periodic status would go out."""
        try:
            self.publish_status()
        except Exception as exc:  # noqa: BLE001 - e.g. the context is already gone after Ctrl-C
            self.get_logger().warning(f'final status not published: {exc}')

    def release(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # -- flow ---------------------------------------------------------------
    def _on_reads(self, msg: PlateReadArray) -> None:
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.frames += 1
        if msg.reads:
            self.read_latency.add((time.time_ns() - stamp_ns) / 1e6)
        self.clock.seen(stamp_ns)
        camera = msg.header.frame_id or self.get_namespace().strip('/') or 'camera'
        for read in msg.reads:
            if read.text:
                observation = self._observation(camera, stamp_ns, msg, read)
                if observation is not None:
                    self._dispatch(self.passes.add(observation))

    def _observation(self, camera: str, stamp_ns: int, msg: PlateReadArray, read: PlateRead) -> Observation | None:
        """The read as the passes take it, checked at the door (lpr_recorder.validate)."""
        b = read.detection.box
        try:
            r = clean_read(camera, read.text, read.confidence, read.char_confidences,
                           (b.x, b.y, b.width, b.height), read.region, read.format)
        except BadRead as exc:
            self._refused('bad_reads', f'read {read.text[:40]!r} refused: {exc}')
            return None
        for part in r.dropped:
            self._refused('bad_read_parts', f'read {r.text!r} kept without its {part}')
        return Observation(r.camera, stamp_ns, r.text, r.confidence, r.box, r.char_confidences, r.region,
                           r.format, payload=_evidence(msg, read))

    def _on_ingested(self, msg: IngestedEvent) -> None:
        """A plate an ANPR camera read itself: one final event as it came (no
        passes), on the same commit path as passes (spool, dead letters, retries)."""
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        camera = msg.header.frame_id or self.get_namespace().strip('/') or 'camera'
        read = msg.read
        try:
            r = clean_read(camera, read.text, read.confidence, region=read.region)
            if not r.text:
                raise BadRead('empty plate text')
        except BadRead as exc:
            self._refused('bad_reads', f'ingested read {read.text[:40]!r} refused: {exc}')
            return
        best = Observation(r.camera, stamp_ns, r.text, r.confidence, region=r.region,
                           payload=_evidence(msg, read))
        self.worker.submit(_Ingested(Decision(FINAL, msg.event_id, r.camera, r.text, r.confidence, stamp_ns,
                                              stamp_ns, 1, best, ((r.text, 1.0),), msg.direction)))

    def _refused(self, counter: str, message: str) -> None:
        """Counted every time; logged once per kind of problem (then every minute)."""
        self.status.count(counter)
        kind = message.split(':', 1)[-1].split('(')[0].strip()
        if kind not in self._told:
            self._told.add(kind)
            self.get_logger().warning(message)
        else:
            self.get_logger().warning(message, throttle_duration_sec=60.0)

    def _tick(self) -> None:
        now = self.clock.now_ns()
        if now is not None:
            self._dispatch(self.passes.tick(now))

    def _dispatch(self, decisions: list[Decision]) -> None:
        for d in decisions:
            if d.stage == FINAL:
                self.worker.submit(d)
            else:
                self._publish(d, None)

    def _commit(self, d) -> None:
        if d is _RETENTION:   # on the same worker: one writer at a time
            self._enforce_retention()
            return
        if d is _DRAIN:
            self._drain_spool()
            return
        if isinstance(d, _Ingested):
            d = d.decision
            if self._skip_retransmission(d):
                return
        try:
            row = self._commit_with_retry(d)
        except _Stopped:
            self._spill(d)
            return
        if row is not None:
            self._committed(d, row)
        if self._spool_waiting and self.worker.pending == 0:
            self._drain_spool()

    def _skip_retransmission(self, d: Decision) -> bool:
        try:
            recorded = self._already_recorded(d)
        except _Stopped:
            self._spill(d)   # the spool checks again before committing
            return True
        if recorded:
            self.status.count('ingested_duplicates')
            self.get_logger().info(f'event {d.event_id} ({d.text}) sent again by its camera: already recorded')
        return recorded

    def _committed(self, d: Decision, row: Event) -> None:
        self._failing = False
        self.committed += 1
        self.status.set(OK, 'active')
        self.get_logger().info(f'event {row.plate} camera={row.camera_id} conf={row.confidence:.2f} '
                               f'reads={row.read_count} id={row.event_id}')
        self._publish(d, row)

    def _spill(self, item) -> bool:
        """The RAM queue is full (or the node stops) while writes fail: the
        decision goes to the spool on disk. False when that fails too (the
        worker then drops the oldest waiting item and counts it)."""
        if item is _RETENTION or item is _DRAIN:
            return True   # markers: retention runs next period, the spool drains after the next commit
        if isinstance(item, _Ingested):
            item = item.decision   # the spool's drain skips it if it is recorded meanwhile
        if isinstance(item, _Ingested):
            item = item.decision   # the spool drain skips it if it is recorded meanwhile
        try:
            self.spool.put(item)
        except SpoolError as exc:
            self.get_logger().error(f'event {item.event_id} ({item.text}) neither recorded nor spooled: {exc}',
                                    throttle_duration_sec=10.0)
            return False
        self._spool_waiting = True
        self.status.count('spooled')
        self.get_logger().warning(f'event {item.event_id} ({item.text}) spooled to disk until writes work again',
                                  throttle_duration_sec=10.0)
        return True

    def _drain_spool(self) -> None:
        """Commit the spooled events, oldest first; each file goes once its row is
        in the journal (or was already: a crash between commit and removal)."""
        self._spool_waiting = False   # before listing: a spill meanwhile sets it again
        for path in self.spool.paths():
            try:
                d = self.spool.load(path)
            except SpoolError as exc:
                self.status.count('spool_unreadable')
                self.get_logger().error(str(exc))
                continue
            try:
                row = None if self._already_recorded(d) else self._commit_with_retry(d)
            except _Stopped:
                self._spool_waiting = True
                return   # the file stays for the next run
            self.spool.remove(path)
            if row is not None:
                self._committed(d, row)

    def _already_recorded(self, d: Decision) -> bool:
        delay = 0.5
        while True:
            try:
                return self.journal.has(d.event_id)
            except JournalError as exc:
                if not self._retry_later(d, exc, delay):
                    raise _Stopped from None
                delay = min(delay * 2, 30.0)

    def _commit_with_retry(self, d: Decision):
        """A full disk, a read-only directory or a locked database: say so on the
        status topic and retry with back-off; the decisions behind wait in the
        bounded queue, then in the spool on disk. The writer leaves nothing
        half-written. Raises _Stopped when the node stops meanwhile.
        An event the journal refuses for good (a constraint, bad data) is not
        retried: it goes to the dead letters with the reason (returns None), and
        the queue moves on."""
        delay = 0.5
        while True:
            try:
                return self.writer.commit(d)
            except JournalError as exc:
                if exc.permanent:
                    self._dead_letter(d, str(exc))
                    return None
                error: Exception = exc
            except (ImageStoreError, OSError) as exc:
                error = exc
            if not self._retry_later(d, error, delay):
                raise _Stopped
            delay = min(delay * 2, 30.0)

    def _retry_later(self, d: Decision, error: Exception, delay: float) -> bool:
        """Report a write that failed for now; wait ``delay``; False when the node stops meanwhile."""
        self._failing = True
        self.status.count('write_errors')
        self.status.set(ERROR, f'cannot record events: {error}; retrying')
        self.get_logger().error(f'event {d.text} not recorded yet: {error}', throttle_duration_sec=10.0)
        self.publish_status()
        return not self._stopping.wait(delay)

    def _dead_letter(self, d: Decision, reason: str) -> None:
        self.status.count('dead_letters')
        self.get_logger().error(f'event {d.event_id} ({d.text[:40]!r}) can never be recorded, kept as a dead '
                                f'letter: {reason}')
        detail = {'text': d.text, 'confidence': repr(d.confidence), 'read_count': d.read_count,
                  'first_ns': d.first_ns, 'last_ns': d.last_ns, 'candidates': [t for t, _ in d.candidates]}
        try:
            self.journal.dead_letter(d.event_id, d.camera_id[:200], d.text[:200], reason, detail)
        except JournalError as exc:
            self.get_logger().error(f'dead letter for {d.event_id} not written either: {exc}')

    def _enforce_retention(self) -> None:
        report = self.retention.enforce()
        if report.is_error:
            self.status.count('deleted_for_floor', report.deleted_for_floor)
            self.status.count('deleted_unuploaded', report.deleted_pending)
            self.status.set(ERROR, report.summary())
            self.get_logger().error(report.summary())
            self.publish_status()
        elif report.deleted:
            self.get_logger().info(report.summary())

    def _publish(self, d: Decision, row: Event | None) -> None:
        try:
            self.pub.publish(to_event_msg(d, row))
        except Exception as exc:  # noqa: BLE001 - the row is committed; the topic is best effort at shutdown
            self.get_logger().warning(f'event {d.event_id} committed but not published: {exc}')

    def _on_error(self, exc: BaseException) -> None:
        self.status.count('write_errors')
        self.status.set(ERROR, f'cannot record events: {exc}')
        self.get_logger().error(f'event not recorded: {exc}', throttle_duration_sec=5.0)

    def fill_status(self, status) -> None:
        if self.passes is not None:
            status.values.update(committed=self.committed, open_passes=self.passes.open_count,
                                 bad_frames=self.writer.bad_frames if self.writer else 0,
                                 ignored_reads=self.passes.ignored, frames=self.frames,
                                 read_latency_n=len(self.read_latency),
                                 **self.read_latency.summary('read_latency_ms'))
        if self.worker is not None:
            status.values.update(queued=self.worker.pending, dropped=self.worker.dropped)
        if self.spool is not None:
            status.values.update(spool=len(self.spool))
        if self.writer is not None:   # the box: free space for events, the SoC's temperature
            box = {'disk_free_gb': disk_free_gb(self.writer.store.root), 'temperature_c': temperature_c()}
            status.values.update({k: v for k, v in box.items() if v is not None})


def resolve_spool_dir(path: str):
    """The configured spool directory, or <data dir>/spool when empty."""
    from pathlib import Path

    from lpr_common.paths import data_dir
    return Path(path).expanduser() if path else data_dir() / 'spool'


def _evidence(msg: PlateReadArray | IngestedEvent, read: PlateRead) -> Evidence:
    crop = None
    if read.detection.crop.width:
        try:
            crop = image_to_array(read.detection.crop)
        except ImageError:
            crop = None
    vehicle = _vehicle_of(msg, read)
    return Evidence(bytes(msg.frame.data) if len(msg.frame.data) else None, crop, int(getattr(msg, 'frame_seq', 0)),
                    (vehicle.box.x, vehicle.box.y, vehicle.box.width, vehicle.box.height) if vehicle else None)


def _vehicle_of(msg: PlateReadArray | IngestedEvent, read: PlateRead):
    """The VehicleDetection carrying the read's plate, or None (an ingested
    event has no vehicles; an index out of range is ignored)."""
    vehicles = getattr(msg, 'vehicles', ())
    index = read.detection.vehicle_index
    return vehicles[index] if 0 <= index < len(vehicles) else None


def _time(stamp_ns: int) -> Time:
    return Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000))


def to_event_msg(d: Decision, row: Event | None) -> PlateEvent:
    msg = PlateEvent(event_id=d.event_id, camera_id=d.camera_id, read_count=d.read_count, direction=d.direction,
                     stage=PlateEvent.STAGE_FINAL if d.stage == FINAL else PlateEvent.STAGE_PREVIEW)
    msg.header.stamp = _time(d.best.stamp_ns)
    msg.header.frame_id = d.camera_id
    msg.first_seen, msg.last_seen = _time(d.first_ns), _time(d.last_ns)
    b = d.best
    msg.best.text, msg.best.confidence = d.text, float(d.confidence)
    msg.best.region, msg.best.format = b.region, b.format
    msg.best.char_confidences = [float(c) for c in b.char_confidences] if b.text == d.text else []
    msg.best.candidates = [PlateCandidate(text=t, confidence=float(w)) for t, w in d.candidates]
    msg.best.detection.box.x, msg.best.detection.box.y = float(b.box[0]), float(b.box[1])
    msg.best.detection.box.width, msg.best.detection.box.height = float(b.box[2]), float(b.box[3])
    if row is not None:
        msg.site_id = row.site_id
        msg.frame_path, msg.plate_path, msg.vehicle_path = row.frame_path, row.plate_path, row.vehicle_path
        msg.processed_path = row.processed_path or ''
    return msg


def main(args=None) -> int:
    return run_node(RecorderNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
