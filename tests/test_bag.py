"""Recording and replay (lpr_tools.bag) and the bag evaluation (lpr_tools.bag_eval):
scoring and the MCAP/metadata format without ROS, a record + play round trip
on real rclpy in this process, and the uk clip replayed through the real graph."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, shared_path
from lpr_tools import bag
from lpr_tools.bag_eval import (DUPLICATE, FALSE_EVENT, TRUE_POSITIVE, WRONG_TEXT, EventRecord, TruthError, TruthSpan,
                          load_truth, parse_truth, progress, queues_empty, score)

DOMAIN_ID = str(100 + os.getpid() % 31)   # apart from the other graph tests on this host


# -- scoring (pure) -------------------------------------------------------------

TRUTH = [TruthSpan('LS15EBC', 0.0, 4.7), TruthSpan('AB12CDE', 10.0, 14.0), TruthSpan('XY99ZZZ', 20.0, 22.0)]


def _outcomes(result):
    return [(e.event.text, e.outcome) for e in result.events]


def test_true_positive_and_missed():
    result = score(TRUTH, [EventRecord('ls15 ebc', 1.0, 'e1'), EventRecord('AB12-CDE', 14.3, 'e2')], 0.5)
    assert _outcomes(result) == [('ls15 ebc', TRUE_POSITIVE), ('AB12-CDE', TRUE_POSITIVE)]
    d = result.to_dict()
    assert (d['true_positives'], d['missed'], d['precision']) == (2, 1, 1.0)
    assert d['recall'] == pytest.approx(2 / 3)
    assert [s['matched'] for s in d['spans']] == [True, True, False]
    assert d['spans'][1]['event_id'] == 'e2'


def test_wrong_text_duplicate_and_false_event():
    events = [EventRecord('LS15EBC', 2.0), EventRecord('LS15EBC', 4.0),     # second one: duplicate
              EventRecord('AB12COE', 11.0),                                 # misread: wrong text, span missed
              EventRecord('LS15EBC', 30.0),                                 # nowhere near a span
              EventRecord('XY99ZZZ', 22.6)]                                 # outside span + tolerance
    result = score(TRUTH, events, tolerance_s=0.5)
    assert _outcomes(result) == [('LS15EBC', TRUE_POSITIVE), ('LS15EBC', DUPLICATE), ('AB12COE', WRONG_TEXT),
                                 ('XY99ZZZ', FALSE_EVENT), ('LS15EBC', FALSE_EVENT)]
    d = result.to_dict()
    assert (d['true_positives'], d['duplicates'], d['wrong_text'], d['false_events'], d['missed']) == (1, 1, 1, 2, 2)
    assert d['precision'] == pytest.approx(1 / 5) and d['recall'] == pytest.approx(1 / 3)
    assert d['events'][2]['truth'] == 'AB12CDE'


def test_overlapping_spans_match_by_text_and_no_events():
    truth = [TruthSpan('AAA111', 0.0, 5.0), TruthSpan('BBB222', 2.0, 6.0)]
    result = score(truth, [EventRecord('BBB222', 3.0), EventRecord('AAA111', 3.5)])
    assert _outcomes(result) == [('BBB222', TRUE_POSITIVE), ('AAA111', TRUE_POSITIVE)]
    empty = score(truth, []).to_dict()
    assert (empty['missed'], empty['precision'], empty['recall']) == (2, None, 0.0)


def test_truth_files(tmp_path):
    spans = parse_truth('text,start_s,end_s\n# a comment\n\nLS15EBC, 0.0, 4.7  # whole clip\n')
    assert spans == [TruthSpan('LS15EBC', 0.0, 4.7)]
    path = tmp_path / 'truth.yaml'
    path.write_text('plates:\n  - {text: AB12CDE, start_s: 1, end_s: 2.5}\n')
    assert load_truth(path) == [TruthSpan('AB12CDE', 1.0, 2.5)]
    for bad in ('LS15EBC,0.0\n', 'LS15EBC,a,b\n', 'LS15EBC,5,1\n'):
        with pytest.raises(TruthError):
            parse_truth(bad)
    assert load_truth(REPO / 'tests' / 'data' / 'uk-clip.truth.csv') == [TruthSpan('LS15EBC', 0.0, 4.7)]


def test_idle_detection_reads_the_node_counters():
    busy = {'detector': {'frames': '10'}, 'ocr': {'handled': '3', 'pending': '2'}, 'recorder': {'queued': '0'}}
    idle = {'detector': {'frames': '10'}, 'ocr': {'handled': '5', 'pending': '0'}, 'recorder': {'queued': '0'}}
    assert not queues_empty(busy) and queues_empty(idle) and queues_empty({})
    assert progress(busy) != progress(idle)


# -- the bag format (no ROS graph) --------------------------------------------------

def _image_bytes(stamp_s: int, fill: int, size: int = 8) -> bytes:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    msg = Image(height=size, width=size, encoding='bgr8', step=size * 3)
    msg.header.stamp.sec, msg.header.frame_id = stamp_s, 'cam0'
    msg.data = bytes([fill]) * (size * size * 3)
    return serialize_message(msg)


def test_header_stamp_without_deserializing_and_remapping():
    assert bag.header_stamp_ns(_image_bytes(1_700_000_000, 1)) == 1_700_000_000 * 10**9
    assert bag.has_header('sensor_msgs/msg/Image') and bag.has_header('lpr_interfaces/msg/PlateEvent')
    assert not bag.has_header('std_msgs/msg/String')
    assert bag.remap_topic('/cam0/plates/reads', 'cam0', 'evalX') == '/evalX/plates/reads'
    assert bag.remap_topic('/diagnostics', 'cam0', 'evalX') == '/diagnostics'
    assert bag.remap_topic('/cam0/image_raw', 'cam0', None) == '/cam0/image_raw'


def test_writer_makes_a_rosbag2_mcap(tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from lpr_common import msgdefs, qos
    frames = [_image_bytes(100 + i, i) for i in range(3)]
    with bag.BagWriter(tmp_path / 'b', custom_data={'namespace': 'cam0'}) as writer:
        writer.add_topic('/cam0/image_raw', 'sensor_msgs/msg/Image', bag.qos_yaml([qos.FRAMES]))
        for i, data in enumerate(frames):
            writer.write('/cam0/image_raw', data, log_time_ns=5_000 + i)
    with open(tmp_path / 'b' / 'b_0.mcap', 'rb') as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        got = list(reader.iter_decoded_messages())
        summary = reader.get_summary()
    assert [m.schema.name for m in got] == ['sensor_msgs/msg/Image'] * 3
    assert got[0].schema.encoding == 'ros2msg' and got[0].channel.message_encoding == 'cdr'
    assert got[0].schema.data.decode() == msgdefs.full_definition('sensor_msgs/msg/Image')
    assert [m.message.data for m in got] == frames                          # bytes as given
    assert [m.message.publish_time for m in got] == [(100 + i) * 10**9 for i in range(3)]   # header stamps
    assert [m.decoded_message.header.stamp.sec for m in got] == [100, 101, 102]
    offered = yaml.safe_load(got[0].channel.metadata['offered_qos_profiles'])
    assert offered[0]['reliability'] == 2 and offered[0]['depth'] == 2       # best effort, keep last 2
    assert next(iter(summary.chunk_indexes)).compression == 'lz4'
    info = yaml.safe_load((tmp_path / 'b' / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert (info['version'], info['storage_identifier'], info['message_count']) == (8, 'mcap', 3)
    assert info['relative_file_paths'] == ['b_0.mcap'] and info['duration']['nanoseconds'] == 2
    assert info['ros_distro'] == (os.environ.get('ROS_DISTRO') or 'kilted')   # never empty
    topic = info['topics_with_message_count'][0]
    assert topic['message_count'] == 3 and topic['topic_metadata']['type'] == 'sensor_msgs/msg/Image'
    assert yaml.safe_load(topic['topic_metadata']['offered_qos_profiles']) == offered
    with pytest.raises(bag.BagError):
        bag.BagWriter(tmp_path / 'b')                                         # never overwrites


_KILLED_WRITER = textwrap.dedent('''
    import sys, time
    from lpr_tools import bag
    writer = bag.BagWriter(sys.argv[1], custom_data={'namespace': 'cam0'})
    writer.add_topic('/cam0/plates/events', 'lpr_interfaces/msg/PlateEvent')
    for i in range(10):
        writer.write('/cam0/plates/events', bytes([0, 1, 0, 0]) + bytes(200), log_time_ns=1000 + i)
    writer.flush()                       # what the recorder does at least once a second
    for i in range(10, 13):
        writer.write('/cam0/plates/events', bytes([0, 1, 0, 0]) + bytes(200), log_time_ns=1000 + i)
    print('ready', flush=True)
    time.sleep(60)
''')


def test_a_killed_recorder_leaves_a_readable_bag(tmp_path):
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    path = tmp_path / 'killed'
    proc = subprocess.Popen([sys.executable, '-c', _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready'
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert not (path / 'metadata.yaml').exists()
    with pytest.raises(McapError), open(path / 'killed_0.mcap', 'rb') as f:
        list(make_reader(f).iter_messages())                 # no footer: the index cannot be used
    reader = bag.BagReader(path)
    assert reader.truncated and reader.namespace == 'cam0'
    assert [m.log_time_ns for m in reader.messages()] == list(range(1000, 1010))   # up to the last flush
    info = bag.reindex(path)['rosbag2_bagfile_information']
    assert info['message_count'] == 10 and (path / 'metadata.yaml').is_file()
    with open(path / 'killed_0.mcap', 'rb') as f:
        assert len(list(make_reader(f).iter_messages())) == 10
    assert not bag.BagReader(path).truncated


# -- record + play on real rclpy ------------------------------------------------------

class _Participant:
    """A node in its own context, spun in a thread."""

    def __init__(self, name: str, namespace: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self):
        import rclpy
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_record_and_play_round_trip(tmp_path, monkeypatch):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from lpr_interfaces.msg import PlateEvent
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from lpr_common import qos
    monkeypatch.setenv('ROS_DOMAIN_ID', DOMAIN_ID)
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    talker = _Participant('talker', '/cam0')
    frames_pub = talker.node.create_publisher(Image, 'image_raw', qos.FRAMES)
    events_pub = talker.node.create_publisher(PlateEvent, 'plates/events', qos.EVENTS)
    recorder = bag.BagRecorder(tmp_path / 'rt', 'cam0', ['image_raw', 'plates/events'])
    sent = []
    try:
        assert _wait(lambda: frames_pub.get_subscription_count() and events_pub.get_subscription_count())
        time.sleep(0.3)
        for i in range(5):
            frame = Image(height=4, width=4, encoding='bgr8', step=12, data=bytes([i]) * 48)
            frame.header.stamp.sec, frame.header.frame_id = 1000 + i, 'cam0'
            # published as bytes: CDR padding is not zeroed, so two serializations of
            # one message may differ there (the recorder must keep the bytes it got)
            sent.append(serialize_message(frame))
            frames_pub.publish(sent[-1])
            # one at a time: frames are best effort, keep-last 2 (a loaded machine drops a burst)
            assert _wait(lambda: recorder.writer.message_count + recorder.worker.pending == i + 1), i
        for text in ('LS15EBC', 'AB12CDE'):
            event = PlateEvent(event_id=text.lower(), stage=PlateEvent.STAGE_FINAL, camera_id='cam0')
            event.best.text = text
            event.header.stamp.sec = 1002
            sent.append(serialize_message(event))
            events_pub.publish(sent[-1])
        assert _wait(lambda: recorder.writer.message_count + recorder.worker.pending == 7), \
            recorder.writer.message_count
    finally:
        meta = recorder.stop()
    info = meta['rosbag2_bagfile_information']
    assert {t['topic_metadata']['name']: t['message_count'] for t in info['topics_with_message_count']} == \
        {'/cam0/image_raw': 5, '/cam0/plates/events': 2}
    assert (tmp_path / 'rt' / 'metadata.yaml').is_file()
    with open(tmp_path / 'rt' / 'rt_0.mcap', 'rb') as f:
        decoded = list(make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages())
    assert {m.channel.topic: m.schema.name for m in decoded} == {
        '/cam0/image_raw': 'sensor_msgs/msg/Image', '/cam0/plates/events': 'lpr_interfaces/msg/PlateEvent'}
    assert sorted(m.message.data for m in decoded) == sorted(sent)
    assert [m.decoded_message.best.text for m in decoded if m.channel.topic.endswith('events')] == \
        ['LS15EBC', 'AB12CDE']
    assert decoded[0].channel.metadata['topic_type_hash'].startswith('RIHS01_')

    # Play into another namespace: the same bytes arrive there.
    received = []
    deep = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    listener = _Participant('listener', '/evalX')
    listener.node.create_subscription(Image, 'image_raw', received.append, deep, raw=True)
    listener.node.create_subscription(PlateEvent, 'plates/events', received.append, qos.EVENTS, raw=True)
    player = bag.BagPlayer(tmp_path / 'rt', namespace='evalX')
    try:
        assert set(player.played_names.values()) == {'/evalX/image_raw', '/evalX/plates/events'}
        assert player.wait_for_subscribers(10.0)
        player.play(rate=2.0)
        assert _wait(lambda: len(received) == 7), len(received)
    finally:
        player.close()
        talker.close()
        listener.close()
    assert sorted(received) == sorted(sent)


# -- the uk clip through the real graph -----------------------------------------------

def _bag_from_video(clip: Path, out: Path, fps: float = 30.0) -> int:
    """Frames straight from OpenCV into a bag, stamped at ``fps``: deterministic."""
    import cv2
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from lpr_common import qos
    base = 1_700_000_000 * 10**9
    cap = cv2.VideoCapture(str(clip))
    count = 0
    with bag.BagWriter(out, custom_data={'namespace': 'cam0'}) as writer:
        writer.add_topic('/cam0/image_raw', 'sensor_msgs/msg/Image', bag.qos_yaml([qos.FRAMES]))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            stamp = base + round(count * 1e9 / fps)
            msg = Image(height=frame.shape[0], width=frame.shape[1], encoding='bgr8', step=frame.shape[1] * 3)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
            msg.header.frame_id = 'cam0'
            msg.data = frame.tobytes()
            writer.write('/cam0/image_raw', serialize_message(msg), stamp)
            count += 1
    cap.release()
    return count


@pytest.mark.graph
def test_eval_replays_the_uk_clip_through_the_graph(tmp_path):
    clip = shared_path('videos', 'uk-LS15EBC.mp4')
    assert _bag_from_video(clip, tmp_path / 'uk') == 140
    out = tmp_path / 'eval.json'
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID=DOMAIN_ID)
    result = subprocess.run([sys.executable, '-m', 'lpr_tools.cli', 'eval', '--bag', str(tmp_path / 'uk'),
                             '--truth', str(REPO / 'tests' / 'data' / 'uk-clip.truth.csv'), '--json', str(out)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report['frames_played'] == 140 and report['graph_idle'], report
    assert report['true_positives'] == 1 and report['missed'] == 0, report
    assert [e['text'] for e in report['events'] if e['outcome'] == TRUE_POSITIVE] == ['LS15EBC']
    tp = next(e for e in report['events'] if e['outcome'] == TRUE_POSITIVE)
    assert 0.0 <= tp['stamp_s'] <= 4.7


@pytest.mark.graph
def test_record_source_records_the_graph(tmp_path):
    from lpr_interfaces.msg import PlateEvent
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    clip = shared_path('videos', 'uk-LS15EBC.mp4')
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID=DOMAIN_ID)
    result = subprocess.run([sys.executable, '-m', 'lpr_tools.cli', 'record', str(tmp_path / 'live'), '--source', str(clip),
                             '--data-dir', str(tmp_path / 'data'), '--no-bridge'],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'LS15EBC' in result.stdout                        # the graph ran and printed its event
    info = yaml.safe_load((tmp_path / 'live' / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    counts = {t['topic_metadata']['name']: t['message_count'] for t in info['topics_with_message_count']}
    # The start of the clip can be lost to the transport while the detector warms up (see bag.record_graph).
    assert counts['/cam0/image_raw'] > 40 and counts['/cam0/plates/detections'] > 0, counts
    with open(tmp_path / 'live' / 'live_0.mcap', 'rb') as f:
        events = [m.decoded_message for m in make_reader(f, decoder_factories=[DecoderFactory()])
                  .iter_decoded_messages(topics=['/cam0/plates/events'])]
    assert 'LS15EBC' in [e.best.text for e in events if e.stage == PlateEvent.STAGE_FINAL]


def test_truth_errors_name_every_bad_line():
    with pytest.raises(TruthError) as err:
        parse_truth('text,start_s,end_s\nAB12CDE,0,1\nBAD,x,1\n\nCD34EFG,3\nEF56GHI,5,4\n')
    message = str(err.value)
    assert 'line 3' in message and 'line 5' in message and 'line 6' in message and 'line 2' not in message


def test_merged_events_and_folded_hits_are_counted():
    truth = [TruthSpan('AB12CDE', 0.0, 2.0), TruthSpan('RKO99AN', 2.6, 4.6), TruthSpan('ZZ11ZZZ', 5.2, 7.2)]
    events = [EventRecord('AB12CDE', 1.5, 'a', first_s=0.0, last_s=1.9, arrived_s=3.0),
              EventRecord('RK099AN', 4.0, 'b', first_s=2.7, last_s=4.5),
              EventRecord('ZZ11ZZZ', 6.0, 'c', first_s=5.3, last_s=7.1, arrived_s=8.4),
              EventRecord('XX00XXX', 6.5, 'd', first_s=3.0, last_s=7.0)]      # two cars in one event
    d = score(truth, events).to_dict()
    assert (d['true_positives'], d['merged'], d['wrong_text']) == (2, 1, 2)
    assert d['exact_folded'] == pytest.approx(1.0)                            # RK099AN folds to the label
    assert d['delay_s'] == {'p50': 1.1, 'max': 1.2}
