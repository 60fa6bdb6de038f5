"""Nodes in this process, on real rclpy/DDS: bad input is counted and skipped,
the node keeps working; a bad parameter fails the lifecycle transition."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lpr_interfaces.msg import PlateDetection, PlateDetectionArray, PlateReadArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from lpr_common import qos
from lpr_common.images import array_to_image
from lpr_common.node import FAILURE, SUCCESS


@pytest.fixture
def ros():
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=60 + os.getpid() % 30)
    executor = SingleThreadedExecutor(context=context)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [executor.spin_once(0.05) for _ in iter(stop.is_set, True)])
    thread.start()
    yield context, executor
    stop.set()
    thread.join(5)
    executor.shutdown()
    rclpy.try_shutdown(context=context)


def make(node_class, context, executor, **params):
    node = node_class(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                      namespace='/t', context=context)
    executor.add_node(node)
    return node


def probe(context, executor):
    node = rclpy.create_node('probe', namespace='/t', context=context)
    executor.add_node(node)
    return node


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def synthetic_frame() -> np.ndarray:
    from lpr_camera.synthetic import SceneConfig, SyntheticScene
    scene = SyntheticScene(SceneConfig(cars=('UK:AB12CDE',), seed=3))
    index = next(i for i in range(scene.num_frames)
                 if scene.truth(i) and scene.truth(i)[0].fully_visible and scene.truth(i)[0].box[0] > 400)
    return scene.frame(index)


def test_detector_skips_bad_frames_and_keeps_detecting(ros):
    from lpr_detector.node import DetectorNode
    context, executor = ros
    node = make(DetectorNode, context, executor)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    got, debug, status = [], [], []
    p.create_subscription(PlateDetectionArray, 'plates/detections', got.append, qos.RESULTS)
    p.create_subscription(CompressedImage, 'debug/image/compressed', debug.append, qos.DEBUG)
    p.create_subscription(DiagnosticArray, '/diagnostics', status.append, qos.STATUS)
    frames = p.create_publisher(Image, 'image_raw', qos.FRAMES)
    assert wait_for(lambda: frames.get_subscription_count() > 0)

    bad = Image(height=720, width=1280, encoding='bgr8', step=3840)
    bad.data = bytes(100)                       # truncated
    good = Image()
    array_to_image(synthetic_frame(), good)
    good.header.frame_id = 'cam-test'
    for msg in (bad, good):
        frames.publish(msg)
        time.sleep(0.5)
    assert wait_for(lambda: got), 'no detections published after a bad frame'
    out = got[-1]
    assert out.header.frame_id == 'cam-test'
    assert len(out.plates) == 1 and out.plates[0].crop.width > 0 and len(out.frame.data) > 0
    assert wait_for(lambda: debug), 'no annotated debug frame while subscribed'
    node.publish_status()
    assert wait_for(lambda: any(kv.key == 'bad_frames' and kv.value == '1'
                                for s in status for st in s.status for kv in st.values))
    values = {kv.key: kv.value for st in status[-1].status for kv in st.values}
    assert values['backend'].startswith('onnx:') and 'CPUExecutionProvider' in values['device']
    assert float(values['detect_ms']) > 0   # where the model runs, and how fast
    node.trigger_deactivate()
    node.destroy_node()


def test_ocr_reads_a_crop_and_survives_a_malformed_one(ros):
    from lpr_ocr.node import OcrNode
    context, executor = ros
    node = make(OcrNode, context, executor, regions=['UK'])
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    reads = []
    p.create_subscription(PlateReadArray, 'plates/reads', reads.append, qos.RESULTS)
    pub = p.create_publisher(PlateDetectionArray, 'plates/detections', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)

    import cv2
    crop = np.full((90, 360, 3), 235, np.uint8)
    cv2.putText(crop, 'AB12CDE', (20, 68), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 4, cv2.LINE_AA)
    good = PlateDetection()
    array_to_image(crop, good.crop)
    good.box.width, good.box.height = 360.0, 90.0
    broken = PlateDetection()
    broken.crop.encoding, broken.crop.width, broken.crop.height = 'bgr8', 50, 50   # no data
    pub.publish(PlateDetectionArray(plates=[broken, good]))
    assert wait_for(lambda: reads)
    texts = [r.text for r in reads[0].reads]
    assert texts == ['', 'AB12CDE']
    assert reads[0].reads[1].region == 'UK' and len(reads[0].reads[1].char_confidences) == 7
    node.trigger_deactivate()
    node.destroy_node()


def test_cleanup_destroys_the_lifecycle_publishers_and_a_failed_activate_keeps_the_configuration(ros, tmp_path):
    """configure/cleanup cycles leave one publisher per topic (not one per cycle);
    a failed activate returns the node to 'inactive' with what configure loaded."""
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(tmp_path / 'images'), spool_dir=str(tmp_path / 'spool'))
    def events_publishers():
        return [p for p in node.publishers if p.topic_name == '/t/plates/events']
    for _ in range(3):
        assert node.trigger_configure() == SUCCESS
        assert len(events_publishers()) == 1
        assert node.trigger_cleanup() == SUCCESS
    assert events_publishers() == []
    assert node.trigger_configure() == SUCCESS
    real_activate = node.activate

    def broken():
        real_activate()
        raise RuntimeError('device vanished')
    node.activate = broken
    assert node.trigger_activate() == FAILURE
    assert node.lifecycle_state() == 'inactive' and node.journal is not None and node.worker is None
    node.activate = real_activate
    assert node.trigger_activate() == SUCCESS and node.worker is not None
    node.trigger_deactivate()
    node.destroy_node()


def test_bad_parameter_fails_configure(ros):
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, gap_s=-1.0)
    assert node.trigger_configure() == FAILURE
    assert 'configure failed' in node.status.message
    node.destroy_node()


def test_recorder_retries_when_the_disk_refuses_and_loses_nothing(ros, tmp_path):
    import shutil

    from lpr_interfaces.msg import PlateEvent, PlateRead

    from lpr_recorder.node import RecorderNode
    context, executor = ros
    images = tmp_path / 'images'
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(images), gap_s=0.3, preview_reads=0)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    shutil.rmtree(images)
    images.write_text('not a directory')        # every image write now fails (as root too)
    p = probe(context, executor)
    events = []
    p.create_subscription(PlateEvent, 'plates/events', events.append, qos.EVENTS)
    pub = p.create_publisher(PlateReadArray, 'plates/reads', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    crop = np.full((40, 160, 3), 200, np.uint8)
    for i in range(3):
        msg = PlateReadArray()
        msg.header.frame_id = 'cam-t'
        ns = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
        read = PlateRead(text='AB12CDE', confidence=0.9)
        read.detection.box.width = 100.0
        array_to_image(crop, read.detection.crop)
        msg.reads = [read]
        pub.publish(msg)
        time.sleep(0.05)
    assert wait_for(lambda: node.status.values.get('write_errors', 0) >= 2, timeout=15)
    assert 'cannot record events' in node.status.message and events == []
    images.unlink()                              # the disk is back
    assert wait_for(lambda: events, timeout=20), 'event not recorded after the disk came back'
    assert events[0].best.text == 'AB12CDE' and events[0].frame_path == '' and events[0].plate_path
    assert events[0].processed_path.endswith('_processed.jpg')
    assert node.journal.count() == 1
    node.trigger_deactivate()
    node.destroy_node()


def test_recorder_refuses_poison_reads_at_the_door_and_records_the_rest(ros, tmp_path):
    """A NaN confidence (once stored as NULL into a NOT NULL column, retried
    forever) and a frame that is not an image must not hold up good events."""
    import math

    from lpr_interfaces.msg import PlateEvent, PlateRead

    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(tmp_path / 'images'), gap_s=0.3, preview_reads=0)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    events = []
    p.create_subscription(PlateEvent, 'plates/events', events.append, qos.EVENTS)
    pub = p.create_publisher(PlateReadArray, 'plates/reads', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    for i in range(6):
        msg = PlateReadArray()
        msg.header.frame_id = 'cam-t'
        ns = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
        msg.frame.format, msg.frame.data = 'jpeg', list(b'not a jpeg at all')
        poison = PlateRead(text='ZZ99ZZZ', confidence=math.nan)
        good = PlateRead(text='AB12CDE', confidence=0.9)
        good.detection.box.width = 100.0
        msg.reads = [poison, good]
        pub.publish(msg)
        time.sleep(0.05)
    assert wait_for(lambda: events, timeout=20), 'the good event waited behind the poison reads'
    assert [e.best.text for e in events] == ['AB12CDE'] and events[0].frame_path == ''
    assert node.status.values.get('bad_reads') == 6
    assert node.journal.count() == 1 and node.writer.bad_frames == 1
    node.trigger_deactivate()
    node.destroy_node()


def test_recorder_dead_letters_an_event_the_journal_refuses_for_good(ros, tmp_path):
    from lpr_interfaces.msg import PlateEvent, PlateRead

    from lpr_recorder.journal import JournalError
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(tmp_path / 'images'), gap_s=0.3, preview_reads=0)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    real_commit = node.writer.commit

    def refuse_the_first(d):
        if d.text == 'ZZ99ZZZ':
            raise JournalError('value too long for type character varying(32)', permanent=True)
        return real_commit(d)
    node.writer.commit = refuse_the_first
    p = probe(context, executor)
    events = []
    p.create_subscription(PlateEvent, 'plates/events', events.append, qos.EVENTS)
    pub = p.create_publisher(PlateReadArray, 'plates/reads', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    for text, x in (('ZZ99ZZZ', 100.0), ('AB12CDE', 900.0)):
        for _ in range(3):
            msg = PlateReadArray()
            msg.header.frame_id = 'cam-t'
            ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
            read = PlateRead(text=text, confidence=0.9)
            read.detection.box.x, read.detection.box.width = x, 100.0
            msg.reads = [read]
            pub.publish(msg)
            time.sleep(0.05)
    assert wait_for(lambda: events, timeout=20), 'the good event waited behind the refused one'
    assert [e.best.text for e in events] == ['AB12CDE']
    (letter,) = node.journal.dead_letters()
    assert letter.plate == 'ZZ99ZZZ' and 'character varying' in letter.reason
    assert node.status.values.get('dead_letters') == 1 and node.status.values.get('write_errors') is None
    node.trigger_deactivate()
    node.destroy_node()


def _publish_passes(pub, texts, frames=3):
    """One pass per text (side by side in the frame), ``frames`` reads each."""
    from lpr_interfaces.msg import PlateRead
    crop = np.full((40, 160, 3), 200, np.uint8)
    for _ in range(frames):
        msg = PlateReadArray()
        msg.header.frame_id = 'cam-t'
        ns = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
        for i, text in enumerate(texts):
            read = PlateRead(text=text, confidence=0.9)
            read.detection.box.x, read.detection.box.width = 150.0 * i, 100.0
            array_to_image(crop, read.detection.crop)
            msg.reads.append(read)
        pub.publish(msg)
        time.sleep(0.05)


TEXTS = ['AB12CDE', 'BC23DEF', 'CD34EFG', 'DE45FGH', 'EF56GHJ']


def test_recorder_spools_what_does_not_fit_in_memory_while_writes_fail(ros, tmp_path):
    """Transient write errors with a full queue: events go to the spool on
    disk instead of being dropped, and are all recorded once writes work."""
    import shutil

    from lpr_recorder.node import RecorderNode
    context, executor = ros
    images = tmp_path / 'images'
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(images), spool_dir=str(tmp_path / 'spool'), gap_s=0.3, preview_reads=0,
                queue_size=1)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    shutil.rmtree(images)
    images.write_text('not a directory')
    pub = probe(context, executor).create_publisher(PlateReadArray, 'plates/reads', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    _publish_passes(pub, TEXTS)
    # one in the writer's hands, one waiting in memory, the rest on disk
    assert wait_for(lambda: len(node.spool) == 3, timeout=15), f'spool holds {len(node.spool)}'
    assert node.journal.count() == 0 and node.worker.dropped == 0
    images.unlink()
    assert wait_for(lambda: node.journal.count() == 5 and len(node.spool) == 0, timeout=30)
    assert sorted(e.plate for e in node.journal.latest(10)) == TEXTS
    assert node.worker.dropped == 0 and node.status.values.get('spooled') == 3
    node.trigger_deactivate()
    node.destroy_node()


def test_recorder_stopped_while_writes_fail_keeps_the_events_for_the_next_run(ros, tmp_path):
    """Stopping while the journal refuses writes spools what waits; the next
    run records each of them once (one already committed is not recorded twice)."""
    from lpr_recorder.journal import JournalError
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    params = dict(db_url=f'sqlite:///{tmp_path / "j.sqlite"}', image_dir=str(tmp_path / 'images'),
                  spool_dir=str(tmp_path / 'spool'), gap_s=0.3, preview_reads=0)
    node = make(RecorderNode, context, executor, **params)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS

    def locked(d):
        raise JournalError('database is locked')
    node.writer.commit = locked
    pub = probe(context, executor).create_publisher(PlateReadArray, 'plates/reads', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    _publish_passes(pub, TEXTS[:3])
    assert wait_for(lambda: node.status.values.get('write_errors', 0) >= 3, timeout=15)
    assert node.trigger_deactivate() == SUCCESS
    spooled = node.spool.paths()
    assert len(spooled) == 3 and node.journal.count() == 0
    # A crash between a commit and the removal of its spool file: the row exists already.
    done = node.spool.load(spooled[0])
    node.writer.commit = type(node.writer).commit.__get__(node.writer)
    node.writer.commit(done)
    assert node.trigger_cleanup() == SUCCESS
    node.destroy_node()

    again = make(RecorderNode, context, executor, **params)
    assert again.trigger_configure() == SUCCESS and again.trigger_activate() == SUCCESS
    assert wait_for(lambda: len(again.spool) == 0, timeout=20)
    assert sorted(e.plate for e in again.journal.latest(10)) == TEXTS[:3]
    assert again.journal.dead_letters() == []
    again.trigger_deactivate()
    again.destroy_node()


def test_every_status_carries_the_process_figures_and_the_recorder_the_box(ros, tmp_path):
    from lpr_common.health import ProcessUsage, disk_free_gb
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(tmp_path / 'images'), spool_dir=str(tmp_path / 'spool'))
    assert node.trigger_configure() == SUCCESS
    got = []
    probe(context, executor).create_subscription(DiagnosticArray, '/diagnostics', got.append, qos.STATUS)
    assert wait_for(lambda: any(s.name == '/t/recorder' and any(v.key == 'disk_free_gb' for v in s.values)
                                for m in got for s in m.status), timeout=15)
    values = {v.key: v.value for m in got for s in m.status if s.name == '/t/recorder' for v in s.values}
    assert float(values['rss_mb']) > 10 and float(values['cpu_percent']) >= 0
    assert abs(float(values['disk_free_gb']) - disk_free_gb(tmp_path)) < 1.0
    usage = ProcessUsage()
    sum(i * i for i in range(200_000))            # some CPU between two samples
    assert usage.sample()['cpu_percent'] > 0
    node.destroy_node()


def test_detector_fills_vehicles_and_each_plate_s_vehicle_index(ros, monkeypatch):
    """With a vehicle model, plates/detections carries the vehicle boxes and
    each plate points at its vehicle (the model stubbed: the wiring is tested
    here, the real models in test_vehicles.py)."""
    from lpr_detector import vehicles
    from lpr_detector.base import Box, Detector
    from lpr_detector.node import DetectorNode

    class WholeFrameCar(Detector):
        name, labels = 'stub:car', ['car']

        def detect(self, image):
            h, w = image.shape[:2]
            return [Box(0, 0, w, h, 0.9, 'car'), Box(0, 0, 10, 10, 0.8, 'person')]

    monkeypatch.setattr(vehicles, 'create_detector', lambda *args: WholeFrameCar())
    context, executor = ros
    node = make(DetectorNode, context, executor, vehicle_backend='darknet')
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    got = []
    p.create_subscription(PlateDetectionArray, 'plates/detections', got.append, qos.RESULTS)
    frames = p.create_publisher(Image, 'image_raw', qos.FRAMES)
    assert wait_for(lambda: frames.get_subscription_count() > 0)
    for n, frame in enumerate((np.zeros((720, 1280, 3), np.uint8), synthetic_frame()), 1):   # empty road, a car
        msg = Image()
        array_to_image(frame, msg)
        frames.publish(msg)
        assert wait_for(lambda: len(got) == n)
    empty, car = got
    assert empty.plates == [] and empty.vehicles == []
    assert node.vehicles.runs == 1                     # the model ran on the frame with a plate only
    assert [(v.label, v.box.width) for v in car.vehicles] == [('car', 1280.0)]
    assert [d.vehicle_index for d in car.plates] == [0]
    node.trigger_deactivate()
    node.destroy_node()


def test_recorder_stores_the_vehicle_of_the_best_read(ros, tmp_path):
    import cv2
    from lpr_interfaces.msg import PlateEvent, PlateRead, VehicleDetection

    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(tmp_path / 'images'), gap_s=0.3, preview_reads=0)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    p = probe(context, executor)
    events = []
    p.create_subscription(PlateEvent, 'plates/events', events.append, qos.EVENTS)
    pub = p.create_publisher(PlateReadArray, 'plates/reads', qos.RESULTS)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    jpeg = cv2.imencode('.jpg', np.full((480, 640, 3), 120, np.uint8))[1].tobytes()
    for _ in range(3):
        msg = PlateReadArray()
        msg.header.frame_id = 'cam-t'
        ns = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
        msg.frame.format, msg.frame.data = 'jpeg', list(jpeg)
        msg.vehicles = [VehicleDetection(label='truck'), VehicleDetection(label='car')]
        msg.vehicles[1].box.x, msg.vehicles[1].box.y = 100.0, 150.0
        msg.vehicles[1].box.width, msg.vehicles[1].box.height = 300.0, 200.0
        read = PlateRead(text='AB12CDE', confidence=0.9)
        read.detection.box.x, read.detection.box.y, read.detection.box.width = 200.0, 300.0, 100.0
        read.detection.vehicle_index = 1
        msg.reads = [read]
        pub.publish(msg)
        time.sleep(0.05)
    assert wait_for(lambda: events, timeout=20)
    path = events[0].vehicle_path
    assert path.endswith('_vehicle.jpg') and node.journal.latest()[0].vehicle_path == path
    assert cv2.imread(str(tmp_path / 'images' / path)).shape == (200, 300, 3)
    node.trigger_deactivate()
    node.destroy_node()


def test_recorder_keeps_the_graph_s_health_in_the_journal(ros, tmp_path, monkeypatch):
    """Every node's /diagnostics lands in node_health (one row per node, its own
    too), off the event path: a failing health write is only counted."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
    from sqlalchemy.orm import Session

    from lpr_recorder import node as recorder_node
    from lpr_recorder.health_store import read_rows
    from lpr_recorder.journal import JournalError
    from lpr_recorder.node import RecorderNode
    context, executor = ros
    node = make(RecorderNode, context, executor, db_url=f'sqlite:///{tmp_path / "j.sqlite"}',
                image_dir=str(tmp_path / 'images'), spool_dir=str(tmp_path / 'spool'), status_period=0.5)
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    pub = probe(context, executor).create_publisher(DiagnosticArray, '/diagnostics', qos.STATUS)
    status = DiagnosticStatus(level=DiagnosticStatus.WARN, name='/t/camera', hardware_id='t',
                              message='camera reconnecting',
                              values=[KeyValue(key='lifecycle', value='active'),
                                      KeyValue(key='connected', value='False'),
                                      KeyValue(key='last_frame_age_s', value='4.200')])

    def rows():
        pub.publish(DiagnosticArray(status=[status]))
        with Session(node.journal.engine) as s:
            return {r.node: r for r in read_rows(s)}

    assert wait_for(lambda: {'/t/camera', '/t/recorder'} <= set(rows()), timeout=20)
    camera, recorder = rows()['/t/camera'], rows()['/t/recorder']
    assert camera.level == 1 and camera.message == 'camera reconnecting' and camera.camera == 't'
    assert camera.figures == {'lifecycle': 'active', 'connected': False, 'last_frame_age_s': 4.2}
    assert recorder.figures['lifecycle'] == 'active' and 'disk_free_gb' in recorder.figures

    def refuse(engine, rows):
        raise JournalError('database is locked')
    monkeypatch.setattr(recorder_node, 'write_rows', refuse)
    assert wait_for(lambda: node.status.values.get('health_write_errors', 0) >= 1, timeout=20)
    assert node.status.level == DiagnosticStatus.OK and node.worker.failed == 0   # events unaffected
    node.trigger_deactivate()
    node.destroy_node()
