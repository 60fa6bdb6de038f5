"""Transport over Socket.IO (python-socketio client), one persistent connection."""
from __future__ import annotations

import socketio
import socketio.exceptions

from lpr_bridge.uploader import Ack, DeliveryError, Transport, TransportError


class SocketIoTransport(Transport):
    def __init__(self, url: str, namespace: str = '/', event: str = 'lpr_event', token: str = '',
                 device_id: str = '', timeout_s: float = 10.0):
        self.url, self.namespace, self.event = url, namespace, event
        self.auth = {'token': token, 'device_id': device_id}
        self.timeout_s = timeout_s
        # Reconnection is ours (back-off in the node), not the library's.
        self._client = socketio.Client(reconnection=False)

    def connect(self) -> None:
        if self._client.connected:
            return
        try:
            self._client.connect(self.url, namespaces=[self.namespace], auth=self.auth,
                                 wait_timeout=self.timeout_s, retry=False)
        except socketio.exceptions.ConnectionError as exc:
            raise TransportError(f'cannot connect to {self.url}: {exc}') from None

    def send(self, payload: dict) -> Ack:
        self.connect()
        try:
            reply = self._client.call(self.event, payload, namespace=self.namespace, timeout=self.timeout_s)
        except socketio.exceptions.TimeoutError:
            if not self._client.connected:
                raise DeliveryError(f'{self.url} closed the connection during the upload (payload too '
                                    'large for the server, or the server went away)') from None
            raise DeliveryError(f'no acknowledgement from {self.url} within {self.timeout_s:.0f} s') from None
        except socketio.exceptions.BadNamespaceError:
            raise DeliveryError(f'{self.url} closed the connection before the upload') from None
        except socketio.exceptions.SocketIOError as exc:
            raise DeliveryError(f'upload to {self.url} failed: {exc}') from None
        return parse_ack(reply)

    def close(self) -> None:
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass


def parse_ack(reply) -> Ack:
    """Servers answer {"status": "success"} or {"status": "error", "error": "..."}."""
    if isinstance(reply, dict) and reply.get('status') == 'success':
        return Ack(True)
    if isinstance(reply, dict) and reply.get('status') == 'error':
        if reply.get('retry'):
            raise TransportError(f'server asked to retry: {reply.get("error", "")}')
        return Ack(False, str(reply.get('error', 'rejected')))
    raise TransportError(f'unexpected acknowledgement {reply!r}')
