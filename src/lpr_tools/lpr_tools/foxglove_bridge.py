"""Live view of the lpr graph in Foxglove: a Foxglove WebSocket server fed with ROS 2 topics.

    python -m lpr_tools.foxglove_bridge [--namespace cam0] [--host 127.0.0.1] [--port 8765]
                                  [--topics NAME[=pkg/msg/Type] ...] [--raw-frames]

Open ws://127.0.0.1:8765 in Foxglove (app or desktop, "Foxglove WebSocket").
Messages are forwarded as they arrive on the wire: the serialized CDR bytes go
out unchanged on a channel with message encoding ``cdr`` and a ``ros2msg``
schema (the complete .msg definition, see lpr_common.msgdefs), so Foxglove
decodes the lpr custom messages without any plugin.

Timestamps: each message is logged with its receive time (wall clock, ns), as
rosbag2 does; the capture time stays in the message's ``header.stamp``.

A ROS subscription exists only while a Foxglove client is subscribed to its
channel (checked a few times a second): nobody watching costs nothing, and the
detector, which draws the debug view only while it has a subscriber, stays idle.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from typing import Any

import foxglove
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from lpr import graph
from lpr_common import msgdefs, qos, topics
from lpr_tools.ws_relay import SUBPROTOCOLS, RelayError, SubprotocolRelay
from lpr_common.process import die_with_parent

# The graph's topics (lpr_common.topics): the subscriptions use each one's
# QoS, so best-effort stays best-effort and a new viewer gets the recent
# (transient-local) events.
DEFAULT_TOPICS = tuple(t.name for t in (topics.DEBUG_IMAGE, topics.DETECTIONS, topics.READS,
                                        topics.EVENTS, topics.DIAGNOSTICS))
RAW_FRAMES_TOPIC = topics.FRAMES.name   # full frames are big: only with --raw-frames
SYNC_PERIOD_S = 0.2                     # how often client subscriptions are mirrored


def parse_topic(item: str) -> topics.Topic:
    """'plates/events' (a topic of the graph) or 'some/topic=pkg/msg/Type' (best-effort)."""
    name, _, type_name = item.partition('=')
    known = topics.BY_NAME.get(name)
    if type_name:
        return topics.Topic(name, type_name, known.qos if known else qos.DEBUG, 'named on the command line')
    if known is None:
        raise ValueError(f'unknown topic {name!r}: give its type as {name}=pkg/msg/Type')
    return known


def message_class(type_name: str) -> Any:
    pkg, name = msgdefs.split_type_name(type_name)
    try:
        return getattr(importlib.import_module(f'{pkg}.msg'), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f'message type {pkg}/msg/{name} is not importable: {exc}') from exc


class _Forward:
    """One ROS topic -> one Foxglove channel."""

    def __init__(self, node: Node, spec: topics.Topic):
        self.topic = node.resolve_topic_name(spec.name)
        self.spec = spec
        self.msg_type = message_class(spec.type_name)
        pkg, name = msgdefs.split_type_name(spec.type_name)
        schema = foxglove.Schema(name=f'{pkg}/msg/{name}', encoding='ros2msg',
                                 data=msgdefs.full_definition(spec.type_name).encode())
        self.channel = foxglove.Channel(self.topic, message_encoding='cdr', schema=schema)
        self.subscription = None
        self.forwarded = 0

    def on_message(self, data: bytes) -> None:
        self.channel.log(data, log_time=time.time_ns())
        self.forwarded += 1


class FoxgloveBridge(Node):
    def __init__(self, namespace: str, topic_list: list[topics.Topic]):
        super().__init__('foxglove_bridge', namespace=namespace)
        self.forwards = [_Forward(self, spec) for spec in topic_list]
        self.create_timer(SYNC_PERIOD_S, self._sync_subscriptions)

    def _sync_subscriptions(self) -> None:
        """Subscribe to a ROS topic while a Foxglove client watches its channel."""
        for fwd in self.forwards:
            watched = fwd.channel.has_sinks()
            if watched and fwd.subscription is None:
                fwd.subscription = self.create_subscription(
                    fwd.msg_type, fwd.topic, fwd.on_message, fwd.spec.qos, raw=True)
                self.get_logger().info(f'forwarding {fwd.topic}')
            elif not watched and fwd.subscription is not None:
                self.destroy_subscription(fwd.subscription)
                fwd.subscription = None
                self.get_logger().info(f'stopped forwarding {fwd.topic} ({fwd.forwarded} messages so far)')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='python -m lpr_tools.foxglove_bridge', description=__doc__.split('\n')[0])
    p.add_argument('--namespace', default=graph.DEFAULT_NAMESPACE, help='camera namespace (default: %(default)s)')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to listen on (default: %(default)s; 0.0.0.0 exposes the cameras to the network)')
    p.add_argument('--port', type=int, default=8765, help='WebSocket port, 0 = any free one (default: %(default)s)')
    p.add_argument('--topics', nargs='+', metavar='NAME[=TYPE]', default=list(DEFAULT_TOPICS),
                   help=f'topics to forward (default: {" ".join(DEFAULT_TOPICS)}); others need =pkg/msg/Type')
    p.add_argument('--raw-frames', action='store_true', help=f'also forward {RAW_FRAMES_TOPIC} (full frames, heavy)')
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(remove_ros_args(['bridge', *argv])[1:])
    names = list(dict.fromkeys([*args.topics, *([RAW_FRAMES_TOPIC] if args.raw_frames else [])]))
    try:
        chosen = [parse_topic(name) for name in names]
        for spec in chosen:   # fail before anything starts
            message_class(spec.type_name)
            msgdefs.full_definition(spec.type_name)
    except (ValueError, msgdefs.MessageDefinitionError) as exc:
        parser.error(str(exc))

    # rclpy's SIGTERM handler shuts the context down, then chains to the default
    # action (exit 143); make SIGTERM (lpr run, systemd) a Ctrl-C instead.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    die_with_parent()
    # The SDK's server on loopback; clients reach it through the relay, which
    # also accepts the old subprotocol name (lpr_tools.ws_relay).
    server = foxglove.start_server(name='lpr', host='127.0.0.1', port=0)
    try:
        relay = SubprotocolRelay(args.host, args.port, server.port).start()
    except RelayError as exc:
        server.stop()
        print(f'error: foxglove bridge cannot listen on {args.host}:{args.port}: {exc}', file=sys.stderr)
        return 1

    node = None
    try:
        rclpy.init(args=['bridge', *argv])
        node = FoxgloveBridge(args.namespace.strip('/'), chosen)
        relay._say = node.get_logger().warning
        node.get_logger().info(f'Foxglove WebSocket on ws://{args.host}:{relay.port} '
                               f'({" or ".join(SUBPROTOCOLS)}), '
                               f'{len(chosen)} topics: {", ".join(f.topic for f in node.forwards)}')
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        relay.stop()
        server.stop()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
