# SPDX-License-Identifier: AGPL-3.0-or-later
"""lpr_interfaces: every message imports, and CDR round trips keep every field.

Needs the interfaces built into the environment (tools/build_interfaces.sh VENV,
or `colcon build` + sourcing install/setup.bash). No node is spun.
"""
import array
import importlib
import math

import pytest

pytest.importorskip('rclpy', reason='ROS 2 (rclpy) is not installed')

try:
    importlib.import_module('lpr_interfaces.msg')
except ImportError as exc:  # ROS is there but the package was not built
    pytest.fail(f'lpr_interfaces is not importable ({exc}); '
                'run tools/build_interfaces.sh VENV_DIR first', pytrace=False)

from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from lpr_interfaces.msg import (  # noqa: E402
    BoundingBox,
    PlateCandidate,
    PlateDetection,
    PlateDetectionArray,
    PlateEvent,
    PlateRead,
    PlateReadArray,
    VehicleDetection,
)

# rclpy's type-description code imports lark-parser 0.12, which warns on Python 3.11.
pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

ALL_MESSAGES = [
    BoundingBox, PlateDetection, VehicleDetection, PlateDetectionArray,
    PlateCandidate, PlateRead, PlateReadArray, PlateEvent,
]


# --- builders with realistic values --------------------------------------------

def _stamp(sec, nanosec):
    return Time(sec=sec, nanosec=nanosec)


def _crop(width=96, height=32):
    """A bgr8 plate crop with non-trivial bytes (and a padded row step)."""
    step = width * 3 + 4
    data = bytes((x * 7 + y * 13) % 256 for y in range(height) for x in range(step))
    return Image(
        header=Header(stamp=_stamp(1_718_000_000, 123_456_789), frame_id='cam_gate_1'),
        height=height, width=width, encoding='bgr8', is_bigendian=0, step=step, data=data)


def _detection(vehicle_index=0):
    return PlateDetection(
        box=BoundingBox(x=612.25, y=418.5, width=141.75, height=37.0),
        score=0.9375,
        backend='onnx:yolov8n-plate-384',
        crop=_crop(),
        crop_box=BoundingBox(x=598.0, y=408.0, width=170.0, height=58.0),
        vehicle_index=vehicle_index,
    )


def _read():
    text = 'AB12CDE'
    return PlateRead(
        text=text,
        confidence=0.875,
        char_confidences=[0.99, 0.98, 0.97, 0.5, 0.875, 0.9, 0.95],
        raw_text='AB12 CDE',
        region='UK',
        format='uk_current',
        candidates=[
            PlateCandidate(text=text, confidence=0.875, region='UK', format='uk_current'),
            PlateCandidate(text='AB12C0E', confidence=0.25, region='', format=''),
            PlateCandidate(text='A812CDE', confidence=0.0625, region='UK', format='uk_current'),
        ],
        backend='onnx:parseq-tiny',
        detection=_detection(),
    )


def _vehicle():
    return VehicleDetection(
        box=BoundingBox(x=400.0, y=210.5, width=520.0, height=390.25), score=0.8125, label='car')


def _jpeg_frame():
    # Not a decodable JPEG; only the bytes matter for the round trip.
    payload = b'\xff\xd8\xff\xe0' + bytes(range(256)) * 16 + b'\xff\xd9'
    return CompressedImage(
        header=Header(stamp=_stamp(1_718_000_000, 123_456_789), frame_id='cam_gate_1'),
        format='jpeg', data=payload)


def _plate_event():
    return PlateEvent(
        header=Header(stamp=_stamp(1_718_000_001, 500_000_000), frame_id='cam_gate_1'),
        event_id='3f2b8c1e-9a4d-4e1b-8f3a-2c6d7e8f9a0b',
        stage=PlateEvent.STAGE_FINAL,
        camera_id='cam_gate_1',
        site_id='depot-north',
        first_seen=_stamp(1_718_000_000, 10_000_000),
        last_seen=_stamp(1_718_000_003, 990_000_000),
        best=_read(),
        read_count=17,
        direction='approaching',
        frame_path='2024/06/10/3f2b8c1e_frame.jpg',
        plate_path='2024/06/10/3f2b8c1e_plate.jpg',
        vehicle_path='',
    )


def _plate_read_array():
    second = _read()
    second.text = ''
    second.confidence = 0.0
    second.char_confidences = []
    second.raw_text = '?'
    second.region = ''
    second.format = ''
    second.candidates = []
    second.detection = _detection(vehicle_index=-1)
    second.detection.crop = Image()  # crop not attached
    return PlateReadArray(
        header=Header(stamp=_stamp(1_718_000_000, 123_456_789), frame_id='cam_gate_1'),
        frame_seq=2**40 + 12345,  # uint64 beyond 32 bits
        frame_width=1920,
        frame_height=1080,
        reads=[_read(), second],
        vehicles=[_vehicle()],
        frame=_jpeg_frame(),
        detect_ms=12.5,
        ocr_ms=3.25,
    )


def _roundtrip(msg):
    data = serialize_message(msg)
    assert isinstance(data, bytes) and len(data) > 0
    back = deserialize_message(data, type(msg))
    assert type(back) is type(msg)
    return back


# --- tests ----------------------------------------------------------------------

@pytest.mark.parametrize('cls', ALL_MESSAGES, ids=lambda c: c.__name__)
def test_every_message_imports_and_roundtrips_empty(cls):
    msg = cls()
    assert _roundtrip(msg) == msg
    # the type is registered under the expected ROS name
    assert cls.__module__.startswith('lpr_interfaces.msg')


def test_stage_constants():
    assert PlateEvent.STAGE_PREVIEW == 0
    assert PlateEvent.STAGE_FINAL == 1
    assert PlateEvent.STAGE_PREVIEW != PlateEvent.STAGE_FINAL
    assert PlateEvent().stage == PlateEvent.STAGE_PREVIEW  # default


def _assert_detection_equal(a, b):
    assert a.box == b.box
    assert a.score == pytest.approx(b.score)
    assert a.backend == b.backend
    assert a.crop.width == b.crop.width and a.crop.height == b.crop.height
    assert a.crop.step == b.crop.step and a.crop.encoding == b.crop.encoding
    assert bytes(a.crop.data) == bytes(b.crop.data)
    assert a.crop.header == b.crop.header
    assert a.crop_box == b.crop_box
    assert a.vehicle_index == b.vehicle_index


def _assert_read_equal(a, b):
    assert a.text == b.text
    assert a.confidence == pytest.approx(b.confidence)
    assert isinstance(b.char_confidences, array.array) and b.char_confidences.typecode == 'f'
    assert list(a.char_confidences) == pytest.approx(list(b.char_confidences))
    assert a.raw_text == b.raw_text
    assert a.region == b.region
    assert a.format == b.format
    assert a.backend == b.backend
    assert len(a.candidates) == len(b.candidates)
    for ca, cb in zip(a.candidates, b.candidates):
        assert (ca.text, ca.region, ca.format) == (cb.text, cb.region, cb.format)
        assert ca.confidence == pytest.approx(cb.confidence)
    _assert_detection_equal(a.detection, b.detection)


def test_plate_event_roundtrip():
    msg = _plate_event()
    back = _roundtrip(msg)
    assert back == msg  # generated __eq__ compares every field, nested ones included

    assert back.header.stamp.sec == 1_718_000_001
    assert back.header.stamp.nanosec == 500_000_000
    assert back.header.frame_id == 'cam_gate_1'
    assert back.event_id == '3f2b8c1e-9a4d-4e1b-8f3a-2c6d7e8f9a0b'
    assert back.stage == PlateEvent.STAGE_FINAL
    assert (back.camera_id, back.site_id) == ('cam_gate_1', 'depot-north')
    assert back.first_seen == _stamp(1_718_000_000, 10_000_000)
    assert back.last_seen == _stamp(1_718_000_003, 990_000_000)
    assert back.read_count == 17
    assert back.direction == 'approaching'
    assert (back.frame_path, back.plate_path, back.vehicle_path) == (
        '2024/06/10/3f2b8c1e_frame.jpg', '2024/06/10/3f2b8c1e_plate.jpg', '')
    _assert_read_equal(msg.best, back.best)
    assert len(back.best.detection.crop.data) == 32 * (96 * 3 + 4)


def test_plate_read_array_roundtrip():
    msg = _plate_read_array()
    back = _roundtrip(msg)
    assert back == msg

    assert back.frame_seq == 2**40 + 12345
    assert (back.frame_width, back.frame_height) == (1920, 1080)
    assert back.detect_ms == pytest.approx(12.5)
    assert back.ocr_ms == pytest.approx(3.25)
    assert len(back.reads) == 2
    for a, b in zip(msg.reads, back.reads):
        _assert_read_equal(a, b)
    assert back.reads[1].text == '' and len(back.reads[1].candidates) == 0
    assert len(back.reads[1].detection.crop.data) == 0
    assert back.reads[1].detection.vehicle_index == -1
    assert back.vehicles == msg.vehicles and back.vehicles[0].label == 'car'
    assert back.frame.format == 'jpeg'
    assert bytes(back.frame.data) == bytes(msg.frame.data)


def test_float32_precision_is_float32():
    # float32 fields hold float32 values after a round trip (no silent float64).
    msg = PlateRead(confidence=0.1, char_confidences=[0.1, 1 / 3])
    back = _roundtrip(msg)
    assert back.confidence != 0.1 and math.isclose(back.confidence, 0.1, rel_tol=1e-7)
    assert list(back.char_confidences) == pytest.approx([0.1, 1 / 3], rel=1e-7)


def test_plate_detection_array_roundtrip():
    msg = PlateDetectionArray(
        header=Header(stamp=_stamp(1_718_000_000, 1), frame_id='cam_gate_1'),
        frame_seq=42, frame_width=1280, frame_height=720,
        plates=[_detection(), _detection(vehicle_index=-1)],
        vehicles=[_vehicle()],
        frame=_jpeg_frame(),
        detect_ms=8.75,
    )
    back = _roundtrip(msg)
    assert back == msg
    for a, b in zip(msg.plates, back.plates):
        _assert_detection_equal(a, b)
