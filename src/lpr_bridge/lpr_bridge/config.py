"""Bridge node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param


@dataclass(frozen=True)
class BridgeConfig:
    server_url: str = param('', 'Socket.IO server, e.g. https://central.example:8443; empty = keep events queued')
    namespace: str = param('/', 'Socket.IO namespace')
    event_name: str = param('lpr_event', 'Socket.IO event name the server listens to')
    token: str = param('', 'per-device token, sent in the connection auth')
    device_id: str = param('', 'this device; empty = the host name')
    db_url: str = param('', 'journal database URL; empty = the recorder default')
    image_dir: str = param('', 'event image directory; empty = the recorder default')
    send_images: bool = param(True, 'embed the event images (base64 JPEG) in each upload')
    ack_timeout_s: float = param(10.0, 'seconds to wait for the server to acknowledge one event')
    retry_initial_s: float = param(1.0, 'first back-off after a failed connection or upload')
    retry_max_s: float = param(60.0, 'longest back-off')
    poll_s: float = param(5.0, 'look for pending events this often even without a new event')
    batch: int = param(50, 'pending events fetched per round')
    max_attempts: int = param(5, 'deliveries that failed on a live connection before an event is dead-lettered '
                                 '(kept in the journal with the reason; the queue moves on)')
    max_payload_bytes: int = param(900_000, "largest upload; bigger events are sent with smaller images, else "
                                            "without (python-socketio servers refuse > 1,000,000 bytes by "
                                            'default); 0 = no limit')

    def validate(self) -> None:
        check(self.server_url == '' or self.server_url.split('://')[0] in ('http', 'https', 'ws', 'wss'),
              f'server_url must start with http://, https://, ws:// or wss://, got {self.server_url!r}')
        check(self.namespace.startswith('/'), 'namespace must start with /')
        check(self.ack_timeout_s > 0, 'ack_timeout_s must be > 0')
        check(0 < self.retry_initial_s <= self.retry_max_s, 'need 0 < retry_initial_s <= retry_max_s')
        check(self.poll_s > 0, 'poll_s must be > 0')
        check(self.batch >= 1, 'batch must be >= 1')
        check(self.max_attempts >= 1, 'max_attempts must be >= 1')
        check(self.max_payload_bytes == 0 or self.max_payload_bytes >= 10_000,
              'max_payload_bytes must be 0 (no limit) or >= 10000')
