"""The Foxglove bridge as a process: ROS topics in, Foxglove WebSocket out,
checked with a plain WebSocket client speaking the Foxglove protocol."""
from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

import pytest
import rclpy
import websocket
from lpr_interfaces.msg import PlateEvent
from rclpy.serialization import serialize_message
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage

from lpr_common import qos

SUBPROTOCOL = 'foxglove.sdk.v1'
OP_MESSAGE_DATA = 0x01   # binary frame: op, uint32 subscription id, uint64 log time (ns), payload
IMAGE_TOPIC = '/cam0/debug/image/compressed'
EVENTS_TOPIC = '/cam0/plates/events'


class Bridge:
    """`python -m lpr_tools.foxglove_bridge` in a child process; its log lines in a queue."""

    def __init__(self, env: dict[str, str], *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'lpr_tools.foxglove_bridge', '--namespace', 'cam0', *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f'no {pattern!r} from the bridge (rc={self.proc.poll()}); log:\n{"".join(self.log)}')

    def stop(self, sig=signal.SIGINT, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f'bridge did not exit within {timeout} s after {sig!r}')


@pytest.fixture
def ros_env(monkeypatch) -> dict[str, str]:
    """DDS traffic on this host, on a domain of its own (other tests may run a /cam0 graph)."""
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    monkeypatch.setenv('ROS_DOMAIN_ID', str(random.randint(30, 101)))
    return dict(os.environ)


@pytest.fixture
def ros_node(ros_env):
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('foxglove_bridge_test', context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def receive_json(ws, op: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT and (msg := json.loads(data))['op'] == op:
            return msg
    pytest.fail(f'no {op!r} from the server')


def test_forwards_cdr_bytes_unchanged_with_ros2msg_schemas(ros_env, ros_node):
    bridge = Bridge(ros_env, '--port', '0')
    try:
        port = int(bridge.wait_for(r'ws://127\.0\.0\.1:(\d+)').group(1))
        deadline = time.monotonic() + 10.0

        # What goes in is serialized here and published as bytes: CDR padding bytes are
        # not zeroed, so two serializations of one message may differ in them.
        event = PlateEvent(event_id=str(uuid.uuid4()), stage=PlateEvent.STAGE_FINAL, camera_id='cam0')
        event.best.text = 'AB123CD'
        image = CompressedImage(format='jpeg', data=os.urandom(2000))
        image.header.frame_id = 'cam0'
        expected = {IMAGE_TOPIC: serialize_message(image), EVENTS_TOPIC: serialize_message(event)}
        image_pub = ros_node.create_publisher(CompressedImage, IMAGE_TOPIC, qos.DEBUG)
        event_pub = ros_node.create_publisher(PlateEvent, EVENTS_TOPIC, qos.EVENTS)
        # Published before anyone watches: transient-local, so it is still delivered.
        event_pub.publish(expected[EVENTS_TOPIC])

        ws = websocket.create_connection(f'ws://127.0.0.1:{port}', subprotocols=[SUBPROTOCOL], timeout=1.0)
        try:
            assert ws.getsubprotocol() == SUBPROTOCOL
            assert receive_json(ws, 'serverInfo', deadline)['name'] == 'lpr'
            channels: dict[str, dict] = {}
            while not {IMAGE_TOPIC, EVENTS_TOPIC} <= channels.keys():
                channels.update({c['topic']: c for c in receive_json(ws, 'advertise', deadline)['channels']})
            assert {'/cam0/plates/detections', '/cam0/plates/reads', '/diagnostics'} <= channels.keys()
            assert channels[IMAGE_TOPIC]['schemaName'] == 'sensor_msgs/msg/CompressedImage'
            assert channels[EVENTS_TOPIC]['schemaName'] == 'lpr_interfaces/msg/PlateEvent'
            for topic in expected:
                assert channels[topic]['encoding'] == 'cdr'
                assert channels[topic]['schemaEncoding'] == 'ros2msg'
                assert 'MSG: std_msgs/Header' in channels[topic]['schema']

            sub_ids = {1: IMAGE_TOPIC, 2: EVENTS_TOPIC}
            ws.send(json.dumps({'op': 'subscribe', 'subscriptions': [
                {'id': sid, 'channelId': channels[topic]['id']} for sid, topic in sub_ids.items()]}))

            # The bridge subscribes to ROS on demand and debug frames are best-effort:
            # keep publishing the frame until it comes through.
            received: dict[str, bytes] = {}
            while len(received) < len(expected):
                assert time.monotonic() < deadline, f'only {sorted(received)} arrived; log:\n{"".join(bridge.log)}'
                image_pub.publish(expected[IMAGE_TOPIC])
                try:
                    opcode, data = ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    continue
                if opcode != websocket.ABNF.OPCODE_BINARY or data[0] != OP_MESSAGE_DATA:
                    continue
                sub_id, log_time = struct.unpack_from('<IQ', data, 1)
                assert abs(log_time - time.time_ns()) < 30e9   # receive time, wall clock
                received.setdefault(sub_ids[sub_id], data[13:])
            # Across processes Fast DDS pads the payload with zeros to a multiple of 4 bytes
            # (rosbag2 stores it so too); the bridge forwards what rmw hands it, unchanged.
            for topic, data in expected.items():
                assert received[topic] in (data, data + bytes(-len(data) % 4)), topic
        finally:
            ws.close()
    finally:
        rc = bridge.stop(signal.SIGINT)
    assert rc == 0, ''.join(bridge.log)   # Ctrl-C is a clean exit


def test_both_subprotocol_names_are_accepted_and_others_refused_with_a_reason(ros_env):
    """Lichtblick and older Foxglove Studio ask for foxglove.websocket.v1 (the same
    protocol under its old name); the SDK alone answers them HTTP 400."""
    bridge = Bridge(ros_env, '--port', '0')
    try:
        port = int(bridge.wait_for(r'ws://127\.0\.0\.1:(\d+)').group(1))
        for name in ('foxglove.websocket.v1', 'foxglove.sdk.v1'):
            ws = websocket.create_connection(f'ws://127.0.0.1:{port}', subprotocols=[name], timeout=2.0)
            try:
                assert ws.getsubprotocol() == name
                assert receive_json(ws, 'serverInfo', time.monotonic() + 10)['name'] == 'lpr'
            finally:
                ws.close()
        with pytest.raises(websocket.WebSocketException):
            websocket.create_connection(f'ws://127.0.0.1:{port}', subprotocols=['chat.v2'], timeout=2.0)
        bridge.wait_for(r'refused: it offers chat\.v2')
    finally:
        bridge.stop(signal.SIGINT)


def test_sigterm_stops_cleanly(ros_env):
    bridge = Bridge(ros_env, '--port', '0')
    bridge.wait_for(r'ws://127\.0\.0\.1:\d+')
    assert bridge.stop(signal.SIGTERM) == 0


def test_port_taken_is_one_clear_line(ros_env):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, '-m', 'lpr_tools.foxglove_bridge', '--port', str(port)],
                                env=ros_env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f'127.0.0.1:{port}' in lines[0] and 'in use' in lines[0], result.stderr


def test_unknown_topic_needs_a_type():
    from lpr_tools.foxglove_bridge import parse_topic
    assert parse_topic('plates/events').type_name == 'lpr_interfaces/msg/PlateEvent'
    assert parse_topic('/tf=tf2_msgs/msg/TFMessage').type_name == 'tf2_msgs/msg/TFMessage'
    with pytest.raises(ValueError, match='pkg/msg/Type'):
        parse_topic('/tf')
