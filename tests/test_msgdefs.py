"""Complete ros2msg definitions (lpr_common.msgdefs): rosbag2's layout, every
dependency once, and decodable by mcap-ros2-support from real CDR bytes."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from mcap_ros2._dynamic import generate_dynamic, serialize_dynamic
from rclpy.serialization import serialize_message

from lpr_common import msgdefs
from lpr_common.msgdefs import MessageDefinitionError, full_definition

SEPARATOR = '\n' + '=' * 80 + '\nMSG: '


def msg_text(pkg: str, name: str) -> str:
    return (Path(sys.prefix) / 'share' / pkg / 'msg' / f'{name}.msg').read_text()


def dependency_names(schema: str) -> list[str]:
    return re.findall(r'^MSG: (\S+)$', schema, flags=re.MULTILINE)


@pytest.mark.parametrize('type_name, expected', [
    ('sensor_msgs/msg/Image', {'std_msgs/Header', 'builtin_interfaces/Time'}),
    ('lpr_interfaces/msg/PlateEvent', {
        'std_msgs/Header', 'builtin_interfaces/Time', 'lpr_interfaces/PlateRead',
        'lpr_interfaces/PlateCandidate', 'lpr_interfaces/PlateDetection',
        'lpr_interfaces/BoundingBox', 'sensor_msgs/Image'}),
    ('lpr_interfaces/msg/PlateReadArray', {
        'std_msgs/Header', 'builtin_interfaces/Time', 'lpr_interfaces/PlateRead',
        'lpr_interfaces/PlateCandidate', 'lpr_interfaces/PlateDetection',
        'lpr_interfaces/BoundingBox', 'lpr_interfaces/VehicleDetection',
        'sensor_msgs/Image', 'sensor_msgs/CompressedImage'}),
])
def test_every_dependency_once_in_rosbag2_layout(type_name, expected):
    schema = full_definition(type_name)
    pkg, name = type_name.split('/msg/')
    assert schema.startswith(msg_text(pkg, name))
    deps = dependency_names(schema)
    assert sorted(deps) == sorted(expected)           # each exactly once
    assert schema.count(SEPARATOR) == len(expected)
    for dep in deps:                                   # each followed by its own file, verbatim
        dep_pkg, dep_name = dep.split('/')
        assert f'MSG: {dep}\n{msg_text(dep_pkg, dep_name)}' in schema


def test_short_and_long_names_give_the_same_schema():
    assert full_definition('sensor_msgs/Image') == full_definition('sensor_msgs/msg/Image')


def test_depth_first_sorted_order_like_rosbag2():
    # Image -> std_msgs/Header -> builtin_interfaces/Time, nested right after Header.
    assert dependency_names(full_definition('sensor_msgs/msg/Image')) == [
        'std_msgs/Header', 'builtin_interfaces/Time']


def _decode(type_name: str, msg):
    decoders = generate_dynamic(type_name, full_definition(type_name))
    return decoders[type_name](serialize_message(msg))


def test_decodes_a_real_plate_event():
    from lpr_interfaces.msg import PlateCandidate, PlateEvent
    msg = PlateEvent(event_id='e-1', stage=PlateEvent.STAGE_FINAL, camera_id='cam0',
                     read_count=7, direction='leaving', frame_path='a/b.jpg')
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = -3, 250, 'cam0'
    msg.last_seen.sec = 1_700_000_000
    msg.best.text, msg.best.confidence = 'AB123CD', 0.875
    msg.best.char_confidences = [0.5, 0.25]
    msg.best.candidates = [PlateCandidate(text='AB123CD', confidence=0.75, region='UK')]
    msg.best.detection.box.width = 12.5
    msg.best.detection.crop.height, msg.best.detection.crop.data = 2, b'\x00\x01\xff'
    msg.best.detection.vehicle_index = -1

    out = _decode('lpr_interfaces/msg/PlateEvent', msg)
    assert (out.event_id, out.stage, out.read_count, out.direction) == ('e-1', 1, 7, 'leaving')
    assert (out.header.stamp.sec, out.header.stamp.nanosec, out.header.frame_id) == (-3, 250, 'cam0')
    assert out.last_seen.sec == 1_700_000_000
    assert out.best.text == 'AB123CD' and out.best.confidence == 0.875
    assert list(out.best.char_confidences) == [0.5, 0.25]
    assert out.best.candidates[0].region == 'UK'
    assert out.best.detection.box.width == 12.5
    assert bytes(out.best.detection.crop.data) == b'\x00\x01\xff'
    assert out.best.detection.vehicle_index == -1


def test_decodes_real_arrays_images_and_diagnostics():
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from lpr_interfaces.msg import PlateRead, PlateReadArray, VehicleDetection
    from sensor_msgs.msg import CompressedImage

    reads = PlateReadArray(frame_seq=2**40, frame_width=1280, ocr_ms=3.5)
    reads.reads = [PlateRead(text='X1'), PlateRead(text='Y2', char_confidences=[1.0])]
    reads.vehicles = [VehicleDetection(label='car', score=0.5)]
    reads.frame.format, reads.frame.data = 'jpeg', b'\xff\xd8\xff\xd9'
    out = _decode('lpr_interfaces/msg/PlateReadArray', reads)
    assert out.frame_seq == 2**40 and out.ocr_ms == 3.5
    assert [r.text for r in out.reads] == ['X1', 'Y2'] and out.vehicles[0].label == 'car'
    assert bytes(out.frame.data) == b'\xff\xd8\xff\xd9'

    image = CompressedImage(format='jpeg', data=bytes(range(256)))
    image.header.frame_id = 'cam0'
    out = _decode('sensor_msgs/msg/CompressedImage', image)
    assert out.header.frame_id == 'cam0' and bytes(out.data) == bytes(range(256))

    diag = DiagnosticArray(status=[DiagnosticStatus(
        level=DiagnosticStatus.WARN, name='/cam0/detector', message='slow',
        values=[KeyValue(key='frames', value='10')])])
    out = _decode('diagnostic_msgs/msg/DiagnosticArray', diag)
    assert out.status[0].level == 1   # a `byte`: rclpy has b'\x01', mcap-ros2 an int
    assert out.status[0].values[0].value == '10'


def test_unknown_type_is_a_clear_error():
    with pytest.raises(MessageDefinitionError, match='lpr_interfaces/msg/NoSuchThing'):
        full_definition('lpr_interfaces/msg/NoSuchThing')
    with pytest.raises(MessageDefinitionError, match='no_such_pkg/msg/Foo'):
        full_definition('no_such_pkg/Foo')
    with pytest.raises(MessageDefinitionError, match='not a message type name'):
        full_definition('Image')


# -- the .msg grammar, on a package made up for the test ----------------------

DEMO = {
    'Outer': '''# comment line, with a Type word: Fake fake
uint8 MODE_A=1            # a constant
string GREETING="hi # not a comment"
int32 depth 5             # a default value
string<=10 short_name
string<=4[<=3] tags
Inner[] many
Inner[3] three
Inner[<=5] some
demo_msgs/Leaf leaf       # full package name
builtin_interfaces/Duration age

# trailing comment
''',
    'Inner': 'Leaf leaf\nfloat64 value\n',
    'Leaf': 'bool on\n',
    'ArrayDefault': 'int32[] seq [1, 2]   # an array default\nLeaf leaf\n',
    'Broken': 'Missing thing\n',
}


@pytest.fixture
def demo_prefix(tmp_path) -> list[Path]:
    msg_dir = tmp_path / 'share' / 'demo_msgs' / 'msg'
    msg_dir.mkdir(parents=True)
    for name, text in DEMO.items():
        (msg_dir / f'{name}.msg').write_text(text)
    return [tmp_path, Path(sys.prefix)]


def test_grammar_arrays_constants_defaults_and_short_names(demo_prefix):
    assert msgdefs.dependencies(DEMO['Outer'], 'demo_msgs') == [
        'builtin_interfaces/Duration', 'demo_msgs/Inner', 'demo_msgs/Leaf']
    schema = full_definition('demo_msgs/msg/Outer', demo_prefix)
    assert dependency_names(schema) == ['builtin_interfaces/Duration', 'demo_msgs/Inner', 'demo_msgs/Leaf']

    # mcap-ros2-support accepts the text: a round trip through its encoder and decoder.
    name = 'demo_msgs/msg/Outer'
    value = {'depth': 9, 'short_name': 'abc', 'tags': ['x'],
             'many': [{'leaf': {'on': True}, 'value': 1.5}],
             'three': [{'leaf': {'on': False}, 'value': float(i)} for i in range(3)],
             'some': [], 'leaf': {'on': True}, 'age': {'sec': -1, 'nanosec': 5}}
    data = serialize_dynamic(name, schema)[name](value)
    out = generate_dynamic(name, schema)[name](data)
    assert out.depth == 9 and out.short_name == 'abc' and list(out.tags) == ['x']
    assert out.many[0].value == 1.5 and out.three[2].value == 2.0 and out.leaf.on is True
    assert (out.age.sec, out.age.nanosec) == (-1, 5)


def test_array_default_values(demo_prefix):
    # mcap-ros2-support parses array defaults but its encoder refuses them: decode only.
    assert msgdefs.dependencies(DEMO['ArrayDefault'], 'demo_msgs') == ['demo_msgs/Leaf']
    name = 'demo_msgs/msg/ArrayDefault'
    decoders = generate_dynamic(name, full_definition(name, demo_prefix))
    data = bytes([0, 1, 0, 0]) + (2).to_bytes(4, 'little') + (7).to_bytes(4, 'little') * 2 + b'\x01'
    out = decoders[name](data)
    assert list(out.seq) == [7, 7] and out.leaf.on is True


def test_missing_dependency_names_the_root(demo_prefix):
    with pytest.raises(MessageDefinitionError, match=r'demo_msgs/msg/Missing.*needed by demo_msgs/msg/Broken'):
        full_definition('demo_msgs/msg/Broken', demo_prefix)
