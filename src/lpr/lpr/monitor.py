"""The runner's own ROS participant: prints committed events, keeps the last
status of every node, and deactivates nodes through their lifecycle services."""
from __future__ import annotations

import threading
import time
from typing import Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from lpr_interfaces.msg import PlateEvent

from lpr.background import Spinner, ros_context
from lpr_common import topics


class GraphMonitor:
    def __init__(self, namespace: str, on_event: Callable[[PlateEvent], None] | None,
                 env: dict[str, str]):
        # The participant must use the same DDS profile as the children.
        keys = ('FASTDDS_DEFAULT_PROFILES_FILE', 'ROS_AUTOMATIC_DISCOVERY_RANGE')
        self.namespace = namespace
        self.context = ros_context({k: env[k] for k in keys if k in env})
        self.node = rclpy.create_node('lpr_runner', namespace=f'/{namespace}', context=self.context)
        self.status: dict[str, dict[str, str]] = {}
        self.events: list[PlateEvent] = []
        self.arrivals: dict[str, int] = {}   # event id -> wall-clock ns it arrived here
        self._on_event = on_event
        self.node.create_subscription(PlateEvent, topics.EVENTS.name, self._event, topics.EVENTS.qos)
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS.name, self._diagnostics,
                                      topics.DIAGNOSTICS.qos)
        self._spinner = Spinner(self.context, self.node, 'lpr-monitor')

    def _event(self, msg: PlateEvent) -> None:
        if msg.stage != PlateEvent.STAGE_FINAL:
            return
        if any(e.event_id == msg.event_id for e in self.events):
            return  # a transient-local replay after a reconnect
        self.events.append(msg)
        self.arrivals[msg.event_id] = time.time_ns()
        if self._on_event is not None:
            self._on_event(msg)

    def _diagnostics(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            if s.name.startswith(f'/{self.namespace}/'):
                values = {kv.key: kv.value for kv in s.values}
                values['_message'] = s.message
                self.status[s.name.rsplit('/', 1)[-1]] = values

    def deactivate(self, node_name: str, timeout_s: float = 30.0) -> bool:
        """Ask a node to deactivate (drain, flush); True when it confirmed."""
        client = self.node.create_client(ChangeState, f'/{self.namespace}/{node_name}/change_state')
        try:
            if not client.wait_for_service(timeout_sec=min(5.0, timeout_s)):
                return False
            request = ChangeState.Request()
            request.transition.id = Transition.TRANSITION_DEACTIVATE
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout_s):
                return False
            return bool(future.result() and future.result().success)
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self._spinner.close(self.node)
