"""The HTTP listener for camera pushes: the standard library's threading HTTP
server, Digest authentication, a body size limit. No ROS here.

Routes: ``/NotificationInfo/TollgateInfo`` and ``/NotificationInfo/KeepAlive``
(Dahua ITSAPI, answered ``{"Result": true}``); any other POST path is a
Hikvision ISAPI push (the camera is given a URL; answered 200 with no body).
A push that cannot be read is answered 400 and logged; one that the node
cannot pass on (no recorder listening) 503, so the camera sends it again.
"""
from __future__ import annotations

import threading
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from lpr_ingest import dahua, hikvision
from lpr_ingest.auth import DigestAuth
from lpr_ingest.event import CameraRead, PushError

# Takes a read; False when it could not be passed on (answered 503).
Accept = Callable[[CameraRead], bool]
Log = Callable[[str], None]


class IngestServer:
    def __init__(self, host: str, port: int, accept: Accept, auth: DigestAuth | None,
                 max_body_bytes: int, warn: Log = print, timeout_s: float = 30.0):
        self.accept, self.auth, self.max_body_bytes, self.warn = accept, auth, max_body_bytes, warn
        self.counts: Counter = Counter()   # pushes by outcome
        handler = type('Handler', (_Handler,), {'ingest': self, 'timeout': timeout_s})
        self._http = ThreadingHTTPServer((host, port), handler)
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._http.serve_forever, name='ingest-http', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self._http.server_close()

    def handle(self, path: str, content_type: str, body: bytes, client: str) -> tuple[int, bytes]:
        """(status, body) of the answer to one authenticated push."""
        route = path.split('?', 1)[0]
        is_dahua = route.startswith('/NotificationInfo/')
        ok = (HTTPStatus.OK, dahua.ANSWER if is_dahua else b'')
        try:
            if route == dahua.KEEPALIVE:
                dahua.keepalive(body)
                self.counts['keepalives'] += 1
                return ok
            if is_dahua and route != dahua.TOLLGATE:
                self.counts['ignored'] += 1   # other ITSAPI notifications
                return ok
            read = dahua.parse(body, client) if is_dahua else hikvision.parse(content_type, body, client)
        except PushError as exc:
            self.counts['malformed'] += 1
            self.warn(f'push from {client} to {route} refused: {exc}')
            return HTTPStatus.BAD_REQUEST, str(exc).encode()[:200]
        if read is None:
            self.counts['ignored'] += 1   # not a plate event (heartbeat, another event type)
            return ok
        if not self.accept(read):
            self.counts['not_accepted'] += 1
            return HTTPStatus.SERVICE_UNAVAILABLE, b'not accepted now, send again later'
        self.counts['accepted'] += 1
        return ok


class _Handler(BaseHTTPRequestHandler):
    ingest: IngestServer
    protocol_version = 'HTTP/1.1'   # keep-alive, as the cameras use it
    server_version = 'lpr-ingest'
    sys_version = ''

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        ingest = self.ingest
        client = self.client_address[0]
        if ingest.auth is not None:
            verdict = ingest.auth.check('POST', self.path, self.headers.get('Authorization'))
            if verdict != 'ok':
                if self.headers.get('Authorization') and verdict == 'refused':
                    ingest.counts['auth_refused'] += 1
                    ingest.warn(f'push from {client} refused: wrong credentials')
                self._answer(HTTPStatus.UNAUTHORIZED, b'', close=True,
                             headers={'WWW-Authenticate': ingest.auth.challenge(stale=verdict == 'stale')})
                return
        length = self.headers.get('Content-Length')
        if length is None or not length.isdigit():
            self._answer(HTTPStatus.LENGTH_REQUIRED, b'Content-Length required', close=True)
            return
        if int(length) > ingest.max_body_bytes:
            ingest.counts['oversize'] += 1
            ingest.warn(f'push from {client} refused: {length} bytes, more than max_body_bytes '
                        f'{ingest.max_body_bytes}')
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b'body larger than max_body_bytes', close=True)
            return
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            return   # the client went away
        status, answer = ingest.handle(self.path, self.headers.get('Content-Type', ''), body, client)
        self._answer(status, answer)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED, b'POST camera events here', close=False,
                     headers={'Allow': 'POST'})

    def _answer(self, status: int, body: bytes, close: bool = False, headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body.startswith(b'{'):
            self.send_header('Content-Type', 'application/json')
        elif body:
            self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        if close:   # the unread body would be taken for the next request
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's signature
        pass   # every push is counted; problems are logged by IngestServer
