"""Bridge node parameters (the defaults live here and nowhere else).

The device token is not a parameter: it comes from ``token_file`` or the
environment ($LPR_DEVICE_TOKEN); see lpr_bridge.security.
"""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param


@dataclass(frozen=True)
class BridgeConfig:
    server_url: str = param('', 'lpr-server URL, e.g. https://central.example:8443; empty = keep events queued')
    namespace: str = param('/', 'Socket.IO namespace')
    token_file: str = param('', 'file holding the device token (`lpr-server device add NAME`); '
                                'empty = the LPR_DEVICE_TOKEN environment variable')
    ca_file: str = param('', "CA certificate(s) (PEM) the server's certificate must verify against; "
                             'empty = the system CAs. Verification is never turned off')
    allow_insecure: bool = param(False, 'allow a plain http:// or ws:// server_url with a token '
                                        '(trusted LAN only: the token crosses the network in clear)')
    device_id: str = param('', 'this device, informative (the server knows it by its token); empty = host name')
    db_url: str = param('', 'journal database URL; empty = the recorder default')
    image_dir: str = param('', 'event image directory; empty = the recorder default')
    send_images: bool = param(True, 'attach the event images (binary JPEG attachments) to each upload')
    image_max_side: int = param(0, 'longest side of a sent image in pixels (re-encoded if larger); 0 = as stored')
    image_quality: int = param(0, 'JPEG quality (1..100) of sent images (re-encoded); 0 = as stored')
    ack_timeout_s: float = param(10.0, 'seconds to wait for the server to acknowledge one batch')
    retry_initial_s: float = param(1.0, 'first back-off after a failed connection or upload (doubles, with '
                                        'random jitter, up to retry_max_s)')
    retry_max_s: float = param(60.0, 'longest back-off')
    poll_s: float = param(5.0, 'look for pending events this often even without a new event')
    heartbeat_s: float = param(30.0, 'send the queue status to the server this often')
    send_health: bool = param(True, "add a summary of every node's /diagnostics to the heartbeat (level, cpu, "
                                    'memory, key figures; disk free, temperature), within the 4 kB limit')
    batch: int = param(50, 'events per upload (one message, acknowledged per event)')
    max_attempts: int = param(5, 'deliveries that failed on a live connection before an event is dead-lettered '
                                 '(kept in the journal with the reason; the queue moves on)')
    max_payload_bytes: int = param(4_000_000, 'largest upload message (events + images); a bigger event is '
                                              'sent with smaller images, else without; 0 = no limit')

    def validate(self) -> None:
        check(self.server_url == '' or self.server_url.split('://')[0] in ('http', 'https', 'ws', 'wss'),
              f'server_url must start with http://, https://, ws:// or wss://, got {self.server_url!r}')
        check(self.namespace.startswith('/'), 'namespace must start with /')
        check(self.ack_timeout_s > 0, 'ack_timeout_s must be > 0')
        check(0 < self.retry_initial_s <= self.retry_max_s, 'need 0 < retry_initial_s <= retry_max_s')
        check(self.poll_s > 0, 'poll_s must be > 0')
        check(self.heartbeat_s > 0, 'heartbeat_s must be > 0')
        check(self.batch >= 1, 'batch must be >= 1')
        check(self.max_attempts >= 1, 'max_attempts must be >= 1')
        check(self.image_max_side == 0 or self.image_max_side >= 32, 'image_max_side must be 0 or >= 32')
        check(0 <= self.image_quality <= 100, 'image_quality must be within 0..100')
        check(self.max_payload_bytes == 0 or self.max_payload_bytes >= 10_000,
              'max_payload_bytes must be 0 (no limit) or >= 10000')
