"""An rclpy node of the lpr command itself (the runner's monitor, the bag
recorder and player): its own context, no rclpy signal handlers (the command
handles Ctrl-C), spun on a daemon thread."""
from __future__ import annotations

import os
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions


def ros_context(dds_env: dict[str, str] | None = None) -> rclpy.Context:
    """A private context. ``dds_env`` (the graph's DDS profile and discovery
    range) is applied to this process first so the participant matches the graph."""
    for key, value in (dds_env or {}).items():
        os.environ[key] = value
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    return context


class Spinner:
    """Spins ``node`` on a daemon thread until close()."""

    def __init__(self, context: rclpy.Context, node, name: str = 'lpr-spin'):
        self.context = context
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:  # noqa: BLE001 - shutting down
                return

    def close(self, node) -> None:
        try:
            self.executor.shutdown(timeout_sec=1.0)
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=self.context)
            self.thread.join(2.0)


def wait_for_subscribers(publishers, timeout_s: float, cancel: threading.Event, settle_s: float = 0.5) -> bool:
    """Wait until every publisher has a matched subscription, then ``settle_s``
    more (the subscriber's side of discovery: best-effort samples published
    before it has matched the writer are lost). False on timeout or cancel."""
    deadline = time.monotonic() + timeout_s
    while not cancel.is_set():
        if all(p.get_subscription_count() > 0 for p in publishers):
            cancel.wait(settle_s)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return False


def close_node(node, context) -> None:
    """Destroy a node, then shut its own context down (even if destroying failed)."""
    try:
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
