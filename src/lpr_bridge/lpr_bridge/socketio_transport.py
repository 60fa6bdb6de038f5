"""Transport over Socket.IO (python-socketio client), one persistent connection.

Protocol of lpr-server (lpr_server.protocol): ``lpr_batch`` with a list of
events, images as binary attachments, answered with one result per event;
``heartbeat`` with the queue status. The token goes in the connection's auth
data, over https/wss with the certificate verified (``ca_file`` or the system
CAs); a plain URL with a token is refused unless ``allow_insecure``.

With ``lists`` (a lpr_bridge.lists_sync.ListsSync), the access lists the
server pushes (``lpr_lists``) go into the journal and are acknowledged
(``lpr_lists_ack``); on each connection the transport first says which
versions it holds (``lpr_lists_hello``) and applies what the server answers.
"""
from __future__ import annotations

import logging
import socket
import ssl
import urllib.parse

import requests
import socketio
import socketio.exceptions

from lpr_bridge.lists_sync import ACK_EVENT, HELLO_EVENT, PUSH_EVENT, REFUSED
from lpr_bridge.security import check_url, http_url, is_tls
from lpr_bridge.uploader import Ack, DeliveryError, Transport, TransportError

BATCH_EVENT = 'lpr_batch'
log = logging.getLogger(__name__)


class SocketIoTransport(Transport):
    def __init__(self, url: str, namespace: str = '/', token: str = '', device_id: str = '',
                 timeout_s: float = 10.0, ca_file: str = '', allow_insecure: bool = False, lists=None):
        check_url(url, token, allow_insecure, ca_file)     # SecurityError before anything is sent
        self.url, self.namespace = http_url(url), namespace
        self.auth = {'token': token, 'device_id': device_id}
        self.timeout_s = timeout_s
        self.ca_file = ca_file
        session = _VerifyingSession(ca_file or True)   # never False: no fallback to unverified TLS
        # Reconnection is ours (back-off in the sender loop), not the library's.
        self._client = socketio.Client(reconnection=False, http_session=session, ssl_verify=True)
        self._refusal = ''
        self._client.on('connect_error', self._on_connect_error, namespace=namespace)
        self.lists = lists
        if lists is not None:
            self._client.on(PUSH_EVENT, self._apply_list, namespace=namespace)

    def _on_connect_error(self, data=None) -> None:
        """The server's reason for refusing the connection (e.g. the token); a
        plain string is a transport failure instead, diagnosed in connect()."""
        if isinstance(data, dict) and data.get('message'):
            self._refusal = f'the server refused the connection: {data["message"]}'

    @property
    def connected(self) -> bool:
        return self._client.connected

    def connect(self) -> None:
        if self._client.connected:
            return
        self._refusal = ''
        try:
            self._client.connect(self.url, namespaces=[self.namespace], auth=self.auth,
                                 wait_timeout=self.timeout_s, retry=False)
        except socketio.exceptions.ConnectionError as exc:
            reason = self._refusal or diagnose(self.url, self.ca_file, self.timeout_s) or str(exc)
            raise TransportError(f'cannot connect to {self.url}: {reason}') from None
        self._sync_lists()

    def _sync_lists(self) -> None:
        """Ask for the lists this edge lacks; a server without lists answers an error."""
        if self.lists is None:
            return
        try:
            reply = self._client.call(HELLO_EVENT, {'versions': self.lists.versions()},
                                      namespace=self.namespace, timeout=self.timeout_s)
        except socketio.exceptions.SocketIOError as exc:
            log.warning('access lists not synchronised on connect: %s', exc or type(exc).__name__)
            return
        payloads = reply.get('lists') if isinstance(reply, dict) and reply.get('status') == 'success' else None
        if not isinstance(payloads, list):
            log.warning('access lists not synchronised on connect: %r', reply)
            return
        for payload in payloads:
            self._apply_list(payload)

    def _apply_list(self, payload) -> None:
        """A pushed list into the journal, then the acknowledgement."""
        outcome = self.lists.apply(payload)
        if outcome.status == REFUSED:
            log.warning('refused the %s access list v%d: %s', outcome.scope, outcome.version, outcome.error)
        try:
            self._client.emit(ACK_EVENT, outcome.ack(), namespace=self.namespace)
        except socketio.exceptions.SocketIOError as exc:
            log.warning('access list acknowledgement not sent: %s', exc)

    def _call(self, event: str, data):
        self.connect()
        try:
            return self._client.call(event, data, namespace=self.namespace, timeout=self.timeout_s)
        except socketio.exceptions.TimeoutError:
            if not self._client.connected:
                raise DeliveryError(f'{self.url} closed the connection during the upload (message too '
                                    'large for the server, or the server went away)') from None
            raise DeliveryError(f'no acknowledgement from {self.url} within {self.timeout_s:.0f} s') from None
        except socketio.exceptions.BadNamespaceError:
            raise DeliveryError(f'{self.url} closed the connection before the upload') from None
        except socketio.exceptions.SocketIOError as exc:
            raise DeliveryError(f'upload to {self.url} failed: {exc}') from None

    def send_batch(self, payloads: list[dict]) -> list[Ack]:
        return parse_batch_ack(self._call(BATCH_EVENT, payloads), len(payloads))

    def heartbeat(self, status: dict) -> None:
        parse_ack(self._call('heartbeat', status))

    def close(self) -> None:
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass


class _VerifyingSession(requests.Session):
    """A requests session that always verifies against ``verify``: a plain
    session lets $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE replace a session-level
    CA file, and the configured ``ca_file`` must be the one used."""

    def __init__(self, verify):
        super().__init__()
        self.verify = verify

    def request(self, method, url, **kwargs):
        kwargs['verify'] = self.verify
        return super().request(method, url, **kwargs)


def parse_ack(reply) -> Ack:
    """Servers answer {"status": "success"} or {"status": "error", "error": "..."};
    ``retry: true`` means the server could not store it now (not the event's fault)."""
    if isinstance(reply, dict) and reply.get('status') == 'success':
        return Ack(True)
    if isinstance(reply, dict) and reply.get('status') == 'error':
        if reply.get('retry'):
            raise TransportError(f'server asked to retry: {reply.get("error", "")}')
        return Ack(False, str(reply.get('error', 'rejected')))
    raise TransportError(f'unexpected acknowledgement {reply!r:.200}')


def parse_batch_ack(reply, expected: int) -> list[Ack]:
    """{"status": "success", "results": [{"status": "stored"|"duplicate"|"rejected", "error"?}, ...]}.
    A batch-level error (revoked token, batch too large) concerns no single
    event: retry later."""
    if isinstance(reply, dict) and reply.get('status') == 'error':
        raise TransportError(f'server refused the batch: {reply.get("error", "")}')
    results = reply.get('results') if isinstance(reply, dict) else None
    if not isinstance(results, list) or reply.get('status') != 'success' or len(results) != expected:
        raise TransportError(f'unexpected acknowledgement {reply!r:.200}')
    acks = []
    for result in results:
        status = result.get('status') if isinstance(result, dict) else None
        if status in ('stored', 'duplicate'):
            acks.append(Ack(True))
        elif status == 'rejected':
            acks.append(Ack(False, str(result.get('error') or 'rejected')))
        else:
            raise TransportError(f'unexpected acknowledgement {result!r:.200}')
    return acks


def diagnose(url: str, ca_file: str, timeout_s: float) -> str:
    """Why a connection failed, when the cause is TLS: a certificate that
    does not verify, or a plain URL given for a TLS-only server. '' otherwise."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or '', parts.port or (443 if is_tls(url) else 80)
    try:
        with socket.create_connection((host, port), timeout=min(timeout_s, 5.0)) as sock:
            if is_tls(url):
                context = ssl.create_default_context(cafile=ca_file or None)
                with context.wrap_socket(sock, server_hostname=host):
                    return ''
            sock.sendall(f'GET /socket.io/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n'.encode())
            answer = sock.recv(16)
    except ssl.SSLCertVerificationError as exc:
        return (f"the server's TLS certificate does not verify ({exc.verify_message}) against "
                f'{ca_file or "the system CAs"}; set ca_file to the CA that signed it')
    except ssl.SSLError as exc:
        return f'TLS handshake failed: {exc.reason or exc}'
    except OSError:
        return ''
    if not answer.startswith(b'HTTP/'):
        return ('the server does not answer plain HTTP (a TLS-only server?): use https:// or wss://')
    return ''
