"""Bridge node: uploads journal events to the central server (store and forward)."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from lpr_interfaces.msg import PlateEvent

from lpr_common import topics
from lpr_common.node import ERROR, OK, WARN, LprNode, run_node
from lpr_bridge.config import BridgeConfig
from lpr_bridge.lists_sync import ListsSync
from lpr_bridge.security import TOKEN_ENV, load_token, token_file_readable_by_others
from lpr_bridge.sender import SenderLoop
from lpr_bridge.uploader import Uploader
from lpr_recorder.health_rows import LatestHealth, rows_of
from lpr_recorder.images import resolve_image_dir
from lpr_recorder.journal import DEAD_LETTER, PENDING, Journal, resolve_url


class BridgeNode(LprNode):
    config_class = BridgeConfig

    def __init__(self, name: str = 'bridge', **kwargs):
        super().__init__(name, **kwargs)
        self.journal: Journal | None = None
        self.loop: SenderLoop | None = None
        self.transport = None
        self.health: LatestHealth | None = None   # every node's newest status, for the heartbeat
        self._sub = self._health_sub = None

    def configure(self, config: BridgeConfig) -> None:
        self.journal = Journal(resolve_url(config.db_url))
        if not config.server_url:
            self.get_logger().info('no server_url configured: events stay queued in the journal')
            return
        from lpr_bridge.socketio_transport import SocketIoTransport  # lazy: only when used
        token = load_token(config.token_file)   # a file or the environment, never a parameter
        if not token:
            self.get_logger().warning(f'no device token (token_file or ${TOKEN_ENV}): the server will refuse')
        elif config.token_file and token_file_readable_by_others(config.token_file):
            self.get_logger().warning(f'token_file {config.token_file} is readable by other users: chmod 600')
        self.transport = SocketIoTransport(config.server_url, config.namespace, token, config.device_id,
                                           config.ack_timeout_s, config.ca_file, config.allow_insecure,
                                           lists=ListsSync(self.journal))   # lists the server pushes
        images = resolve_image_dir(config.image_dir) if config.send_images else None
        uploader = Uploader(self.journal, self.transport, images, config.device_id, config.batch,
                            config.max_attempts, config.max_payload_bytes, config.image_max_side,
                            config.image_quality)
        self.health = LatestHealth() if config.send_health else None
        self.loop = SenderLoop(uploader, config.poll_s, config.retry_initial_s, config.retry_max_s,
                               self._on_state, config.heartbeat_s,
                               self.health.rows if self.health is not None else None)

    def activate(self) -> None:
        self._sub = self.create_subscription(PlateEvent, topics.EVENTS.name, self._on_event, topics.EVENTS.qos)
        if self.health is not None:
            self._health_sub = self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS.name,
                                                        self._on_diagnostics, topics.DIAGNOSTICS.qos)
        if self.loop is not None:
            self.loop.start()

    def deactivate(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            self.destroy_subscription(sub)
        if self._health_sub is not None:
            sub, self._health_sub = self._health_sub, None
            self.destroy_subscription(sub)

    def release(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self.loop = None
        self.health = None

    def _on_event(self, msg: PlateEvent) -> None:
        if msg.stage == PlateEvent.STAGE_FINAL and self.loop is not None:
            self.loop.wake()

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        health = self.health
        for row in rows_of(msg.status) if health is not None else ():
            health.offer(row)

    def _on_state(self, state: str, detail: str) -> None:
        level = {'connected': OK, 'retrying': WARN}.get(state, ERROR)
        self.status.set(level, f'{state}: {detail}' if detail else state)
        if level != OK:
            self.get_logger().warning(f'upload {state}: {detail}', throttle_duration_sec=30.0)

    def fill_status(self, status) -> None:
        if self.loop is not None:
            u = self.loop.uploader
            status.values.update(u.status(), shrunk=u.shrunk, failures=self.loop.failures)
        elif self.journal is not None:
            status.values.update(queued=self.journal.count(PENDING), dead_lettered=self.journal.count(DEAD_LETTER),
                                 connected=False)
            if self.config is not None and not self.config.server_url:
                status.set(OK, 'no server configured: events queued')


def main(args=None) -> int:
    return run_node(BridgeNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
