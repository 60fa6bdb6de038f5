"""Record and replay lpr topics as rosbag2-compatible MCAP bags, without rosbag2.

    lpr record BAG [--namespace cam0] [--topics image_raw plates/reads ...] [--duration S]
    lpr record BAG --source SRC        # starts the graph on SRC and records it
    lpr record BAG --reindex           # repair a bag whose recorder was killed
    lpr play BAG [--rate R] [--namespace NS] [--topics ...]

A bag is what ``ros2 bag record -s mcap`` writes: a directory ``BAG`` with
``BAG_0.mcap`` and ``metadata.yaml`` (rosbag2 metadata version 8, storage
``mcap``), so ``ros2 bag info/play`` and rosbags read it. The MCAP uses the
``ros2`` profile: one schema per type (encoding ``ros2msg``, the complete
definition from lpr_common.msgdefs), one channel per topic (message encoding
``cdr``, metadata ``offered_qos_profiles`` as rosbag2 writes it and
``topic_type_hash`` when the graph reports one). Messages are the serialized
CDR bytes exactly as they came off the wire (``raw=True`` subscriptions).

Timestamps. *Log time* is the receive time (``time.time_ns()`` in the
subscription callback), as rosbag2's; the player paces by it. *Publish time*
is the message's ``header.stamp`` when its type starts with a
``std_msgs/Header`` (Image, detections, reads, events, diagnostics), else the
receive time (rosbag2 >= Jazzy stores the DDS source timestamp there). The
header stamps inside the CDR are never touched: a replay at 1.0x looks live to
the recorder node, whose passes run on header stamps.

Compression. LZ4 per chunk by default. Measured here (2 cores) on the 720p
clip: it halves the bag (1.35 instead of 2.77 MB a frame; the 4.7 s clip is
189 instead of 387 MB) and the writer alone goes faster (230 vs 119 frames/s
flat out, the disk being the limit); recording the live camera at 30 fps took
~0.40 of a core with LZ4 and ~0.27 without, no frame dropped either way.
mcap's own default, zstd, is too slow for raw frames (~47 frames/s);
``--compression none`` suits readers without LZ4.

Durability. Chunks hold up to 1 MiB (a raw 720p frame is a chunk of its own)
and go to the OS as they fill and at least once a second. A clean stop writes
the summary and footer, fsyncs, then writes ``metadata.yaml``. After SIGKILL
every chunk handed to the OS survives (a power cut keeps only what the OS had
flushed); lost are the messages still queued for the writer (at most its
queue, 32 messages) and, for small messages, the last second. Such a file has
no footer, so mcap's SeekingReader and rosbag2 cannot index it; BagReader and
mcap's StreamReader read it up to the cut, ``lpr play`` replays it, and
``lpr record BAG --reindex`` rewrites it into a complete MCAP and writes the
missing metadata.yaml.
"""
from __future__ import annotations

import io
import os
import re
import signal
import struct
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml
from mcap.exceptions import EndOfFile, McapError
from mcap.reader import SeekingReader
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from lpr import graph
from lpr_common import msgdefs
from lpr_common import topics as topic_table

STORAGE_ID = 'mcap'
METADATA_FILE = 'metadata.yaml'
METADATA_VERSION = 8             # readable by Humble through Kilted (v9 only changed the QoS spelling)
LPR_METADATA = 'lpr'             # MCAP metadata record: namespace the bag was recorded in
DEFAULT_TOPICS = tuple(t.name for t in (topic_table.FRAMES, topic_table.DETECTIONS, topic_table.READS,
                                        topic_table.EVENTS))
MCAP_MAGIC = b'\x89MCAP0\r\n'
CHUNK_SIZE = 1 << 20
FLUSH_PERIOD_S = 1.0
_INFINITE_NS = 0x7FFFFFFFFFFFFFFF
COMPRESSIONS = {'lz4': CompressionType.LZ4, 'none': CompressionType.NONE}


class BagError(ValueError):
    """A bag that cannot be written or read (exists already, not an MCAP, unknown topic)."""


# -- pure helpers -------------------------------------------------------------

_CONSTANT = re.compile(r'^\S+\s+\w+\s*=')


@lru_cache(maxsize=128)
def has_header(type_name: str) -> bool:
    """True when the type's first field is a std_msgs/Header (constants skipped)."""
    text = msgdefs.full_definition(type_name).split(msgdefs.DELIMITER, 1)[0]
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not _CONSTANT.match(line):
            return line.split()[0] in ('std_msgs/Header', 'std_msgs/msg/Header', 'Header')
    return False


def header_stamp_ns(data: bytes) -> int | None:
    """``header.stamp`` of a CDR-serialized message whose first field is a
    std_msgs/Header, without deserializing it (0.2 µs instead of ~1 ms for a frame).
    None for an encapsulation other than plain CDR (little or big endian)."""
    if len(data) < 12 or data[0] != 0:
        return None
    order = {1: '<', 0: '>'}.get(data[1])
    if order is None:
        return None
    sec, nanosec = struct.unpack_from(f'{order}iI', data, 4)
    return sec * 1_000_000_000 + nanosec


def _duration(ns: int) -> dict[str, int]:
    ns = _INFINITE_NS if ns is None else int(ns)
    return {'sec': ns // 1_000_000_000, 'nsec': ns % 1_000_000_000}


def qos_dicts(profiles: Iterable[Any]) -> list[dict]:
    """rclpy QoS profiles (or anything with the same attributes) -> rosbag2's
    YAML form, version <= 8 (policies as integers, durations as sec/nsec)."""
    out = []
    for p in profiles:
        out.append({
            'history': int(p.history),
            'depth': int(p.depth),
            'reliability': int(p.reliability),
            'durability': int(p.durability),
            'deadline': _duration(p.deadline.nanoseconds),
            'lifespan': _duration(p.lifespan.nanoseconds),
            'liveliness': int(p.liveliness),
            'liveliness_lease_duration': _duration(p.liveliness_lease_duration.nanoseconds),
            'avoid_ros_namespace_conventions': bool(p.avoid_ros_namespace_conventions),
        })
    return out


def qos_yaml(profiles: Iterable[Any]) -> str:
    """The ``offered_qos_profiles`` string, as rosbag2 stores it in MCAP channels."""
    dicts = qos_dicts(profiles)
    return yaml.safe_dump(dicts, sort_keys=False, default_flow_style=False) if dicts else ''


def remap_topic(topic: str, recorded_ns: str, namespace: str | None) -> str:
    """``/cam0/image_raw`` recorded in ``cam0`` -> ``/evalX/image_raw`` for
    ``namespace='evalX'``. Topics outside the recorded namespace (``/diagnostics``)
    keep their name; no namespace (None or '') changes nothing."""
    relative = relative_name(topic, recorded_ns)
    if not namespace or relative == topic:
        return topic
    return f"/{namespace.strip('/')}/{relative}"


def relative_name(topic: str, recorded_ns: str) -> str:
    """``/cam0/plates/reads`` -> ``plates/reads`` in ``cam0``; others unchanged."""
    prefix = f"/{recorded_ns.strip('/')}/"
    return topic[len(prefix):] if recorded_ns.strip('/') and topic.startswith(prefix) else topic


def mcap_path(bag: Path) -> Path:
    """The .mcap file of a bag directory (or the path itself for a bare .mcap)."""
    bag = Path(bag)
    if bag.is_file():
        return bag
    if not bag.is_dir():
        raise FileNotFoundError(f'no bag at {bag}')
    meta = bag / METADATA_FILE
    if meta.is_file():
        info = (yaml.safe_load(meta.read_text()) or {}).get('rosbag2_bagfile_information', {})
        files = [bag / p for p in info.get('relative_file_paths', []) if str(p).endswith('.mcap')]
        if len(files) > 1:
            raise BagError(f'{bag}: split bags ({len(files)} files) are not supported')
        if files and files[0].is_file():
            return files[0]
    found = sorted(bag.glob('*.mcap'))
    if len(found) != 1:
        raise BagError(f'{bag}: expected one .mcap file, found {len(found)}')
    return found[0]


# -- writing ------------------------------------------------------------------

@dataclass
class _Topic:
    name: str
    type_name: str
    channel_id: int
    offered_qos: str
    type_hash: str
    header: bool
    count: int = 0


class BagWriter:
    """Writes ``BAG/BAG_0.mcap`` and, on close, ``BAG/metadata.yaml``. No rclpy.

    Not thread-safe: one thread writes (the recorder's writer worker).
    """

    def __init__(self, bag_dir: Path | str, *, compression: str = 'lz4',
                 chunk_size: int = CHUNK_SIZE, custom_data: dict[str, str] | None = None,
                 fsync: bool = True):
        self.bag_dir = Path(bag_dir)
        if self.bag_dir.exists() and (not self.bag_dir.is_dir() or any(self.bag_dir.iterdir())):
            raise BagError(f'{self.bag_dir} exists already, not overwriting')
        if compression not in COMPRESSIONS:
            raise BagError(f'compression must be one of {", ".join(COMPRESSIONS)}')
        self.bag_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.bag_dir / f'{self.bag_dir.name}_0.mcap'
        self.custom_data = {str(k): str(v) for k, v in (custom_data or {}).items()}
        self._fsync = fsync
        self._file = open(self.path, 'wb')
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=COMPRESSIONS[compression],
                              enable_crcs=False)   # rosbag2's default too (noChunkCRC)
        self._writer.start(profile='ros2', library='lpr_tools.bag (mcap-python)')
        if self.custom_data:
            self._writer.add_metadata(LPR_METADATA, self.custom_data)
        self._schemas: dict[str, int] = {}
        self.topics: dict[str, _Topic] = {}
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.closed = False

    def add_topic(self, topic: str, type_name: str, offered_qos: str = '', type_hash: str = '') -> None:
        """Register a topic (once); MessageDefinitionError when the type is unknown."""
        if topic in self.topics:
            return
        pkg, name = msgdefs.split_type_name(type_name)
        type_name = f'{pkg}/msg/{name}'
        schema_id = self._schemas.get(type_name)
        if schema_id is None:
            schema_id = self._writer.register_schema(
                name=type_name, encoding='ros2msg', data=msgdefs.full_definition(type_name).encode())
            self._schemas[type_name] = schema_id
        metadata = {'offered_qos_profiles': offered_qos}
        if type_hash:
            metadata['topic_type_hash'] = type_hash
        channel_id = self._writer.register_channel(topic=topic, message_encoding='cdr',
                                                   schema_id=schema_id, metadata=metadata)
        self.topics[topic] = _Topic(topic, type_name, channel_id, offered_qos, type_hash, has_header(type_name))

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        """Append one serialized message; publish time defaults to its header stamp."""
        t = self.topics.get(topic)
        if t is None:
            raise BagError(f'topic {topic} was not added')
        if publish_time_ns is None:
            stamp = header_stamp_ns(data) if t.header else None
            publish_time_ns = stamp if stamp is not None and stamp > 0 else log_time_ns
        self._writer.add_message(channel_id=t.channel_id, log_time=log_time_ns, data=data,
                                 publish_time=publish_time_ns, sequence=t.count)
        t.count += 1
        self.first_ns = log_time_ns if self.first_ns is None else min(self.first_ns, log_time_ns)
        self.last_ns = log_time_ns if self.last_ns is None else max(self.last_ns, log_time_ns)

    def flush(self) -> None:
        """Close the open chunk and hand everything to the OS (no fsync)."""
        self._writer.flush()

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    def close(self) -> dict:
        """Write the summary and footer, fsync, write metadata.yaml; returns its content."""
        if self.closed:
            return self.metadata()
        self.closed = True
        self._writer.finish()
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._file.close()
        meta = self.metadata()
        write_metadata(self.bag_dir, meta)
        return meta

    def metadata(self) -> dict:
        return bag_metadata(self.path.name, [(t.name, t.type_name, t.offered_qos, t.type_hash, t.count)
                                             for t in self.topics.values()],
                            self.first_ns, self.last_ns, self.custom_data)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bag_metadata(file_name: str, topics: list[tuple[str, str, str, str, int]],
                 first_ns: int | None, last_ns: int | None, custom_data: dict[str, str]) -> dict:
    """rosbag2 ``metadata.yaml`` content (version 8) for one MCAP file.
    ``topics``: (name, type, offered_qos_profiles YAML, type hash, message count)."""
    start = first_ns or 0
    duration = (last_ns - first_ns) if first_ns is not None and last_ns is not None else 0
    count = sum(t[4] for t in topics)
    return {'rosbag2_bagfile_information': {
        'version': METADATA_VERSION,
        'storage_identifier': STORAGE_ID,
        'duration': {'nanoseconds': duration},
        'starting_time': {'nanoseconds_since_epoch': start},
        'message_count': count,
        'topics_with_message_count': [
            {'topic_metadata': {'name': name, 'type': type_name, 'serialization_format': 'cdr',
                                'offered_qos_profiles': _Block(qos), 'type_description_hash': type_hash},
             'message_count': n}
            for name, type_name, qos, type_hash, n in topics],
        'compression_format': '',
        'compression_mode': '',
        'relative_file_paths': [file_name],
        'files': [{'path': file_name, 'starting_time': {'nanoseconds_since_epoch': start},
                   'duration': {'nanoseconds': duration}, 'message_count': count}],
        'custom_data': dict(custom_data),
        'ros_distro': os.environ.get('ROS_DISTRO') or graph.PIP_ROS_DISTRO,
    }}


class _Block(str):
    """A multi-line string written as a YAML literal block (readable QoS)."""


class _MetadataDumper(yaml.SafeDumper):
    pass


_MetadataDumper.add_representer(
    _Block, lambda d, s: d.represent_scalar('tag:yaml.org,2002:str', str(s), style='|' if s else None))


def write_metadata(bag_dir: Path, meta: dict) -> Path:
    path = Path(bag_dir) / METADATA_FILE
    tmp = path.with_suffix('.yaml.tmp')
    tmp.write_text(yaml.dump(meta, Dumper=_MetadataDumper, sort_keys=False, default_flow_style=False))
    tmp.replace(path)
    return path


# -- reading ------------------------------------------------------------------

@dataclass(frozen=True)
class BagMessage:
    topic: str
    type_name: str
    log_time_ns: int
    publish_time_ns: int
    data: bytes


@dataclass
class TopicInfo:
    name: str
    type_name: str
    offered_qos: str = ''
    type_hash: str = ''
    count: int = 0


class BagReader:
    """Reads a bag directory or a bare .mcap; complete files through their
    index (log-time order), a file cut short (killed recorder) linearly up to
    its last complete record (``truncated`` is then True)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.mcap = mcap_path(self.path)
        self.topics: dict[str, TopicInfo] = {}
        self.custom_data: dict[str, str] = {}
        self.truncated = False
        self._by_id: dict[int, TopicInfo] = {}
        with open(self.mcap, 'rb') as f:
            if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
                raise BagError(f'{self.mcap} is not an MCAP file')
            f.seek(-len(MCAP_MAGIC), io.SEEK_END)
            complete = f.read() == MCAP_MAGIC
        if complete:
            try:
                self._index()
                return
            except (McapError, struct.error, ValueError, KeyError):
                self.topics.clear()
                self._by_id.clear()
        self.truncated = True
        self._scan()

    def _index(self) -> None:
        with open(self.mcap, 'rb') as f:
            reader = SeekingReader(f)
            summary = reader.get_summary()
            if summary is None:
                raise McapError('no summary')
            counts = summary.statistics.channel_message_counts if summary.statistics else {}
            for cid, ch in summary.channels.items():
                self._add_channel(ch, summary.schemas.get(ch.schema_id), counts.get(cid, 0))
            for meta in reader.iter_metadata():
                if meta.name == LPR_METADATA:
                    self.custom_data.update(meta.metadata)

    def _scan(self) -> None:
        schemas: dict[int, Schema] = {}
        for record in _records(self.mcap):
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                if record.id not in self._by_id:
                    self._add_channel(record, schemas.get(record.schema_id), 0)
            elif isinstance(record, Message):
                self._by_id[record.channel_id].count += 1
            elif isinstance(record, Metadata) and record.name == LPR_METADATA:
                self.custom_data.update(record.metadata)

    def _add_channel(self, ch: Channel, schema: Schema | None, count: int) -> None:
        info = TopicInfo(ch.topic, schema.name if schema else '', ch.metadata.get('offered_qos_profiles', ''),
                         ch.metadata.get('topic_type_hash', ''), count)
        self._by_id[ch.id] = info
        self.topics[ch.topic] = info

    @property
    def namespace(self) -> str:
        """The namespace the bag was recorded in ('' when unknown)."""
        return self.custom_data.get('namespace', '')

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages of the given topics (all when None), in log-time order
        (file order for a truncated file: the recorder's receive order)."""
        wanted = None if topics is None else set(topics)
        if not self.truncated:
            with open(self.mcap, 'rb') as f:
                for schema, channel, msg in SeekingReader(f).iter_messages(
                        topics=None if wanted is None else sorted(wanted), log_time_order=True):
                    yield BagMessage(channel.topic, schema.name if schema else '', msg.log_time,
                                     msg.publish_time, msg.data)
            return
        channels: dict[int, Channel] = {}
        schemas: dict[int, Schema] = {}
        for record in _records(self.mcap):
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message):
                ch = channels.get(record.channel_id)
                if ch is None or (wanted is not None and ch.topic not in wanted):
                    continue
                schema = schemas.get(ch.schema_id)
                yield BagMessage(ch.topic, schema.name if schema else '', record.log_time,
                                 record.publish_time, record.data)

    def metadata(self) -> dict:
        """metadata.yaml content describing this MCAP as it is now."""
        first = last = None
        for m in self.messages():
            first = m.log_time_ns if first is None else min(first, m.log_time_ns)
            last = m.log_time_ns if last is None else max(last, m.log_time_ns)
        return bag_metadata(self.mcap.name, [(t.name, t.type_name, t.offered_qos, t.type_hash, t.count)
                                             for t in self.topics.values()], first, last, self.custom_data)


def _records(path: Path) -> Iterator[Any]:
    """Every record of an MCAP file, chunks broken up, stopping silently at a
    record cut short (the tail a killed writer leaves behind)."""
    size = path.stat().st_size
    with open(path, 'rb') as f:
        f.seek(len(MCAP_MAGIC))
        offset = len(MCAP_MAGIC)
        while offset + 9 <= size:
            head = f.read(9)
            opcode, length = struct.unpack('<BQ', head)
            if opcode == 0 or offset + 9 + length > size:
                return
            body = f.read(length)
            try:
                # one record (a chunk yields its messages); the reader ends on EndOfFile after it
                yield from StreamReader(io.BytesIO(head + body), skip_magic=True).records
            except EndOfFile:
                pass
            except (McapError, struct.error, ValueError):
                return
            offset += 9 + length


def reindex(bag: Path | str) -> dict:
    """Make a bag whole again after its recorder was killed: a truncated MCAP is
    rewritten (every message that survived, the same schemas and channels, a
    fresh summary and footer) and metadata.yaml is (re)written. Returns the metadata."""
    bag = Path(bag)
    reader = BagReader(bag)
    bag_dir = bag if bag.is_dir() else bag.parent
    if reader.truncated:
        tmp_dir = bag_dir / '.reindex'
        if tmp_dir.exists():
            for p in tmp_dir.iterdir():
                p.unlink()
            tmp_dir.rmdir()
        writer = BagWriter(tmp_dir, custom_data=reader.custom_data)
        for t in reader.topics.values():
            writer.add_topic(t.name, t.type_name, t.offered_qos, t.type_hash)
        for m in reader.messages():
            writer.write(m.topic, m.data, m.log_time_ns, m.publish_time_ns)
        writer.close()
        writer.path.replace(reader.mcap)
        for p in tmp_dir.iterdir():
            p.unlink()
        tmp_dir.rmdir()
        reader = BagReader(reader.mcap)
    meta = reader.metadata()
    write_metadata(bag_dir, meta)
    return meta


# -- rclpy glue -----------------------------------------------------------------

_FLUSH = object()


class BagRecorder:
    """Subscribes (raw) to lpr topics and writes them into a bag from one
    writer thread (bounded queue: a writer that falls behind drops the oldest
    message and counts it). Topics are names relative to ``namespace`` or
    absolute, typed from the Foxglove bridge's table (``NAME=pkg/msg/Type`` for
    others). Subscriptions use the topic's own QoS: a deeper frames queue would
    hold more of the camera's shared-memory segment (32 MiB, ~11 raw 720p
    frames) and could starve the detector; bursts wait in the writer's queue."""

    def __init__(self, bag_dir: Path | str, namespace: str = 'cam0', topics: Iterable[str] = DEFAULT_TOPICS,
                 *, dds_env: dict[str, str] | None = None, compression: str = 'lz4',
                 queue_size: int = 32, flush_period_s: float = FLUSH_PERIOD_S):
        from lpr_tools.foxglove_bridge import message_class, parse_topic
        from lpr_common.worker import Worker
        specs = [parse_topic(t) for t in topics]
        classes = [message_class(spec.type_name) for spec in specs]   # fail before anything starts
        self.namespace = namespace.strip('/')
        self.writer = BagWriter(bag_dir, compression=compression, custom_data={'namespace': self.namespace})
        from lpr.background import ros_context
        self.context = ros_context(dds_env)
        import rclpy
        self.node = rclpy.create_node('lpr_bag_recorder', namespace=f'/{self.namespace}', context=self.context)
        self.errors = 0
        self.worker = Worker(self._write, 'lpr-bag-writer', maxsize=queue_size, on_error=self._error)
        self._types: dict[str, str] = {}
        self._fallback_qos: dict[str, Any] = {}
        self._offers: dict[str, tuple[str, str]] = {}
        self._subs = []
        for spec, cls in zip(specs, classes):
            topic = self.node.resolve_topic_name(spec.name)
            self._types[topic] = spec.type_name
            self._fallback_qos[topic] = spec.qos
            self._subs.append(self.node.create_subscription(
                cls, topic, lambda data, topic=topic: self._received(topic, data), spec.qos, raw=True))
        self.node.create_timer(flush_period_s, self._tick)
        from lpr.background import Spinner
        self._spinner = Spinner(self.context, self.node, 'lpr-bag-spin')

    @property
    def topic_names(self) -> list[str]:
        return list(self._types)

    def _received(self, topic: str, data: bytes) -> None:
        now = time.time_ns()
        if topic not in self._offers:   # first message: the publishers are known now
            self._offers[topic] = self._offered(topic, self._fallback_qos[topic])
        self.worker.submit((topic, now, data))

    def _offered(self, topic: str, fallback) -> tuple[str, str]:
        """What the publishers offer (rosbag2 records that), and the type hash."""
        try:
            infos = self.node.get_publishers_info_by_topic(topic)
        except Exception:  # noqa: BLE001 - graph query only enriches the metadata
            infos = []
        profiles = [i.qos_profile for i in infos] or [fallback]
        type_hash = next((str(i.topic_type_hash) for i in infos if getattr(i, 'topic_type_hash', None)), '')
        return qos_yaml(profiles), type_hash if type_hash.startswith('RIHS') else ''

    def _tick(self) -> None:
        if self.worker.pending == 0:
            self.worker.submit(_FLUSH)

    def _write(self, item) -> None:
        if item is _FLUSH:
            self.writer.flush()
            return
        topic, log_ns, data = item
        if topic not in self.writer.topics:
            offered, type_hash = self._offers.get(topic, ('', ''))
            self.writer.add_topic(topic, self._types[topic], offered, type_hash)
        self.writer.write(topic, data, log_ns)

    def _error(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors <= 3:
            print(f'[lpr] record: write failed: {type(exc).__name__}: {exc}', file=sys.stderr, flush=True)

    @property
    def dropped(self) -> int:
        return self.worker.dropped

    def stop(self) -> dict:
        """Unsubscribe, write what is queued, close the bag; returns its metadata."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs.clear()
        self.worker.stop(drain=True, timeout=30.0)
        self._spinner.close(self.node)
        return self.writer.close()


class BagPlayer:
    """Republishes a bag's serialized messages on their topics (optionally in
    another namespace), paced by their log times divided by ``rate``
    (0 = as fast as possible)."""

    def __init__(self, bag: Path | str, *, namespace: str | None = None, topics: Iterable[str] | None = None,
                 dds_env: dict[str, str] | None = None):
        from lpr_tools.foxglove_bridge import message_class
        self.reader = BagReader(Path(bag))
        self.recorded_ns = self.reader.namespace or _guess_namespace(self.reader.topics)
        self.selected = self._select(topics)
        from lpr.background import ros_context
        self.context = ros_context(dds_env)
        import rclpy
        self.node = rclpy.create_node('lpr_bag_player', context=self.context)
        self.publishers: dict[str, Any] = {}     # recorded topic -> publisher on the played topic
        self.played_names: dict[str, str] = {}
        for topic in self.selected:
            info = self.reader.topics[topic]
            relative = relative_name(topic, self.recorded_ns)
            known = topic_table.BY_NAME.get(relative)
            profile = known.qos if known else _profile_from_offer(info.offered_qos)
            played = remap_topic(topic, self.recorded_ns, namespace)
            self.publishers[topic] = self.node.create_publisher(message_class(info.type_name), played, profile)
            self.played_names[topic] = played
        self.published: dict[str, int] = {t: 0 for t in self.selected}
        self.publish_errors = 0
        self._cancel = threading.Event()

    def _select(self, topics: Iterable[str] | None) -> list[str]:
        if topics is None:
            return list(self.reader.topics)
        chosen = []
        for t in topics:
            name = t if t.startswith('/') else f'/{self.recorded_ns}/{t}' if self.recorded_ns else f'/{t}'
            if name not in self.reader.topics:
                raise BagError(f'topic {name} is not in the bag (it has {", ".join(sorted(self.reader.topics))})')
            chosen.append(name)
        return chosen

    def cancel(self) -> None:
        self._cancel.set()

    def wait_for_subscribers(self, timeout_s: float, topics: Iterable[str] | None = None,
                             settle_s: float = 0.5) -> bool:
        """Wait until every given (recorded) topic has a matched subscription (lpr.background)."""
        from lpr.background import wait_for_subscribers
        wanted = list(self.selected if topics is None else topics)
        return wait_for_subscribers([self.publishers[t] for t in wanted], timeout_s, self._cancel, settle_s)

    def play(self, rate: float = 1.0) -> float:
        """Publish every selected message; returns the seconds it took."""
        from rclpy._rclpy_pybind11 import RCLError
        if rate < 0:
            raise ValueError('rate must be >= 0')
        started = time.monotonic()
        first_log = None
        for m in self.reader.messages(self.selected):
            if self._cancel.is_set():
                break
            if first_log is None:
                first_log = m.log_time_ns
            if rate > 0:
                due = started + (m.log_time_ns - first_log) / 1e9 / rate
                if self._cancel.wait(max(0.0, due - time.monotonic())):
                    break
            for _ in range(50):
                try:
                    self.publishers[m.topic].publish(m.data)
                    self.published[m.topic] += 1
                    break
                except RCLError:   # reliable reader behind: "cannot publish data"
                    time.sleep(0.01)
            else:
                self.publish_errors += 1
        return time.monotonic() - started

    def close(self) -> None:
        from lpr.background import close_node
        close_node(self.node, self.context)


def _guess_namespace(topics: Iterable[str]) -> str:
    """The common first segment of the namespaced topics ('' when none is common)."""
    firsts = {t.strip('/').split('/')[0] for t in topics if t.strip('/').count('/') >= 1}
    return firsts.pop() if len(firsts) == 1 else ''


def _profile_from_offer(offered: str):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10)
    try:
        offers = yaml.safe_load(offered) or []
        first = offers[0]
        profile.reliability = ReliabilityPolicy(int(first['reliability']))
        profile.durability = DurabilityPolicy(int(first['durability']))
    except (yaml.YAMLError, IndexError, KeyError, TypeError, ValueError):
        profile.reliability = ReliabilityPolicy.RELIABLE
    if profile.reliability not in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT):
        profile.reliability = ReliabilityPolicy.RELIABLE
    if profile.durability not in (DurabilityPolicy.VOLATILE, DurabilityPolicy.TRANSIENT_LOCAL):
        profile.durability = DurabilityPolicy.VOLATILE
    return profile


# -- command line -----------------------------------------------------------------

def record(bag: Path | str, *, namespace: str, topics: Iterable[str] = DEFAULT_TOPICS, duration_s: float = 0.0,
           run_options=None, on_event: Callable | None = None, compression: str = 'lz4') -> int:
    """``lpr record``: record until Ctrl-C / the duration, or, with ``run_options``,
    start the graph and record it until it stops (see record_graph)."""
    from lpr import graph
    recorder = BagRecorder(bag, namespace, topics, dds_env=graph.dds_environment(), compression=compression)
    print(f'[lpr] recording {" ".join(recorder.topic_names)} into {recorder.writer.path}', file=sys.stderr)
    code = 0
    try:
        if run_options is not None:
            code = record_graph(run_options, recorder, on_event)
            time.sleep(0.5)    # the final events, published while the graph stopped, are in flight
        else:
            deadline = time.monotonic() + duration_s if duration_s > 0 else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        meta = recorder.stop()
    info = meta['rosbag2_bagfile_information']
    counts = ', '.join(f"{t['topic_metadata']['name']} {t['message_count']}" for t in info['topics_with_message_count'])
    size = recorder.writer.path.stat().st_size / 1e6
    print(f"[lpr] recorded {info['message_count']} messages in {info['duration']['nanoseconds'] / 1e9:.1f} s "
          f"({size:.1f} MB): {counts or 'nothing'}; dropped {recorder.dropped}", file=sys.stderr)
    return code


def record_graph(run_options, recorder: BagRecorder, on_event: Callable | None = None) -> int:
    """Run the graph (lpr.runner) while ``recorder`` records it. The runner
    starts the camera last, once every other node is active: started with the
    rest, its frames reached an already running recorder only ~3 s later
    (54-64 of the uk clip's 140 frames); started last, 84-140 (measured here,
    2 cores). What is still lost is the start of the clip while the detector
    and OCR run their first inferences: one of the two frame readers misses
    1-2 s; a larger SHM segment (128 MiB) did not change that."""
    from lpr.runner import GraphRunner
    runner = GraphRunner(run_options, on_event)
    previous = {sig: signal.signal(sig, lambda *_: runner.request_stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner.start()
        return runner.wait()
    except BaseException:
        runner.stop()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def play(bag: Path | str, *, rate: float = 1.0, namespace: str | None = None, topics: Iterable[str] | None = None,
         wait_s: float = 10.0) -> int:
    """``lpr play``: wait (up to ``wait_s``) for a subscriber on every topic, then play."""
    from lpr import graph
    player = BagPlayer(bag, namespace=namespace, topics=topics, dds_env=graph.dds_environment())
    try:
        if player.reader.truncated:
            print(f'[lpr] {player.reader.mcap} is incomplete (recorder killed?): playing what it holds',
                  file=sys.stderr)
        names = ' '.join(player.played_names.values())
        if not player.wait_for_subscribers(wait_s):
            print(f'[lpr] not every topic has a subscriber after {wait_s:.0f} s; playing anyway', file=sys.stderr)
        print(f'[lpr] playing {player.reader.message_count} messages on {names} at rate {rate or "max"}',
              file=sys.stderr)
        elapsed = player.play(rate)
    except KeyboardInterrupt:
        return 130
    finally:
        player.close()
    print(f'[lpr] played {sum(player.published.values())} messages in {elapsed:.1f} s'
          + (f', {player.publish_errors} could not be published' if player.publish_errors else ''), file=sys.stderr)
    return 0
