"""The lifecycle base every lpr node shares, and its ``main``.

A node owns a device, a model, a database or a socket, so each is a
lifecycle node: ``configure`` reads and validates the parameters and loads
what the node owns (a bad parameter or a missing model fails the transition
with one clear line), ``activate`` starts the flow, ``deactivate``/``cleanup``
release. With ``autostart`` (the default) the node walks itself to active,
so the pip runner and ``ros2 launch`` need no lifecycle manager.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.lifecycle import LifecycleNode, LifecyclePublisher, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from lpr_common import topics
from lpr_common.config import ConfigError, NodeOptions, build_config, field_specs
from lpr_common.health import ProcessUsage
from lpr_common.process import die_with_parent

_PARAM_TYPES = {
    str: ParameterType.PARAMETER_STRING,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    bool: ParameterType.PARAMETER_BOOL,
    list[str]: ParameterType.PARAMETER_STRING_ARRAY,
    list[int]: ParameterType.PARAMETER_INTEGER_ARRAY,
    list[float]: ParameterType.PARAMETER_DOUBLE_ARRAY,
}

OK, WARN, ERROR = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR)
SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


class Status:
    """Counters and a level/message, published on /diagnostics by the node.

    A warning fades back to OK after ``warn_hold_s`` unless it is raised again
    (one corrupt frame should not mark a camera degraded for ever); errors stay.
    """

    def __init__(self, warn_hold_s: float = 60.0):
        self.level = OK
        self.message = 'starting'
        self.values: dict[str, Any] = {}
        self.warn_hold_s = warn_hold_s
        self._since = time.monotonic()

    def set(self, level: int, message: str) -> None:
        self.level, self.message = level, message
        self._since = time.monotonic()

    def settle(self) -> None:
        if self.level == WARN and time.monotonic() - self._since > self.warn_hold_s:
            self.level, self.message = OK, 'active'

    def count(self, key: str, n: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + n


class LprNode(LifecycleNode):
    """Subclasses set ``config_class`` and implement configure/activate/release."""

    config_class: type = None

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.config = None
        self.status = Status()
        self._usage = ProcessUsage()   # cpu_percent, rss_mb in every status
        self._declare_parameters(NodeOptions)
        self._declare_parameters(self.config_class)
        # Read once at start-up: how the node starts and reports (a bad value: defaults, logged).
        try:
            self.options = self._read_fields(NodeOptions)
        except ConfigError as exc:
            self.get_logger().error(f'{exc}; using the defaults')
            self.options = NodeOptions()
        # Status is a plain publisher: errors must be visible while inactive too.
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name, topics.DIAGNOSTICS.qos)
        self._diag_timer = self.create_timer(self.options.status_period, self.publish_status)

    # -- parameters ---------------------------------------------------------
    def _declare_parameters(self, config_class: type) -> None:
        for name, kind, default, help_text in field_specs(config_class):
            descriptor = ParameterDescriptor(description=help_text)
            if kind is float:
                # Accept `fps: 15` as well as `fps: 15.0` from YAML; coerced in build_config.
                descriptor.dynamic_typing = True
            else:
                descriptor.type = _PARAM_TYPES[kind]
            if isinstance(default, list) and not default:
                # rclpy cannot tell the type of an empty list: declare it by type.
                self.declare_parameter(name, Parameter.Type(descriptor.type), descriptor)
            else:
                self.declare_parameter(name, default, descriptor)

    def read_config(self):
        return self._read_fields(self.config_class)

    def _read_fields(self, config_class: type):
        values = {}
        for name, *_ in field_specs(config_class):
            try:
                values[name] = self.get_parameter(name).value
            except ParameterUninitializedException:
                pass  # an empty list nobody set: the dataclass default applies
        return build_config(config_class, values)

    # -- lifecycle ----------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.config = self.read_config()
            self.configure(self.config)
        except Exception as exc:  # noqa: BLE001 - reported as a failed transition
            return self._fail('configure', exc)
        self.status.set(OK, 'configured')
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.activate()
        except Exception as exc:  # noqa: BLE001
            return self._fail('activate', exc)
        self.status.set(OK, 'active')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._safe(self.deactivate)
        self.status.set(OK, 'inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_all()
        self.status.set(OK, 'unconfigured')
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if state.label == 'active':
            self._safe(self.deactivate)
        self._release_all()
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_all()
        return SUCCESS

    def _release_all(self) -> None:
        """What configure made goes: the node's own resources, then its
        lifecycle publishers (a new configure creates them again)."""
        self._safe(self.release)
        for entity in list(self._managed_entities):
            if isinstance(entity, LifecyclePublisher):
                self.destroy_lifecycle_publisher(entity)

    # -- hooks for subclasses -------------------------------------------------
    def configure(self, config) -> None:
        """Load what the node owns; raise with a clear message on failure."""

    def activate(self) -> None:
        """Start producing (open the device, start the worker)."""

    def deactivate(self) -> None:
        """Stop producing; keep what configure loaded."""

    def release(self) -> None:
        """Release what configure loaded. Must be safe to call twice."""

    def fill_status(self, status: Status) -> None:
        """Add current figures to the status before it is published."""

    # -- helpers ------------------------------------------------------------
    def lifecycle_state(self) -> str:
        """'unconfigured', 'inactive', 'active', 'finalized' or a transition label."""
        try:
            return self._state_machine.current_state[1]
        except Exception:  # noqa: BLE001 - the state machine is gone at shutdown
            return 'unknown'

    def worker_error(self, what: str):
        """An error handler for a worker: count, show in the status, log (throttled)."""
        def handle(exc: BaseException) -> None:
            self.status.count('errors')
            self.status.set(WARN, f'{what} failed: {type(exc).__name__}: {exc}')
            self.get_logger().error(f'{what} failed: {type(exc).__name__}: {exc}',
                                    throttle_duration_sec=5.0)
        return handle

    def stop_worker(self, worker, subscriptions: list, timeout: float = 5.0) -> None:
        """Unsubscribe, then let the worker finish what it holds."""
        for sub in subscriptions:
            self.destroy_subscription(sub)
        subscriptions.clear()
        if worker is not None:
            worker.stop(drain=True, timeout=timeout)

    def _fail(self, transition: str, exc: Exception) -> TransitionCallbackReturn:
        kind = '' if isinstance(exc, (ConfigError, OSError)) else f'{type(exc).__name__}: '
        self.get_logger().error(f'{transition} failed: {kind}{exc}')
        self.get_logger().debug(''.join(traceback.format_exception(exc)))
        self.status.set(ERROR, f'{transition} failed: {exc}')
        self.publish_status()
        # A failed transition returns to the state before it: a failed activate
        # leaves the node configured (undo what activate started), a failed
        # configure leaves it unconfigured (release what configure loaded).
        if transition == 'activate':
            self._safe(self.deactivate)
        else:
            self._release_all()
        return FAILURE

    def _safe(self, fn) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - release paths must not raise
            self.get_logger().error(f'{fn.__name__} failed: {type(exc).__name__}: {exc}')

    def publish_status(self) -> None:
        self.status.settle()
        try:
            self.fill_status(self.status)
        except Exception as exc:  # noqa: BLE001
            self.status.set(WARN, f'status unavailable: {exc}')
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        entry = DiagnosticStatus(level=self.status.level, name=self.get_fully_qualified_name(),
                                 message=self.status.message,
                                 hardware_id=self.get_namespace().strip('/') or 'lpr')
        values = {'lifecycle': self.lifecycle_state(), **self.status.values, **self._usage.sample()}
        entry.values = [KeyValue(key=k, value=_fmt(v)) for k, v in values.items()]
        msg.status = [entry]
        self._diag_pub.publish(msg)


def _fmt(value: Any) -> str:
    return f'{value:.3f}' if isinstance(value, float) else str(value)


def run_node(node_class, args=None, name: str | None = None) -> int:
    """Entry point of every node executable. Returns the process exit code.

    SIGINT/SIGTERM only set a flag: the node then walks down its lifecycle
    while the ROS context is still valid (the recorder can still publish the
    events it flushes), and the DDS participant is destroyed cleanly, which
    leaves no shared-memory segments behind.
    """
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    die_with_parent()   # a runner that dies takes its nodes with it (SIGTERM: a clean stop)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = node_class() if name is None else node_class(name)
        if node.options.autostart:
            if node.trigger_configure() != SUCCESS or node.trigger_activate() != SUCCESS:
                code = 1
                return code
            node.publish_status()   # tell watchers (the runner) at once, not at the next period
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok() and not getattr(node, 'finished', False):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # noqa: BLE001 - last resort: one line, non-zero exit
        print(f'{node_class.__name__}: fatal: {type(exc).__name__}: {exc}', file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            if code == 0:
                _shutdown(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def _shutdown(node: LprNode) -> None:
    """Walk the node down so it drains, flushes and releases."""
    if node.trigger_shutdown() != SUCCESS:
        node._safe(node.deactivate)
        node._safe(node.release)
