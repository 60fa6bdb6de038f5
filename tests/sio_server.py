"""A real python-socketio server on 127.0.0.1 for the bridge tests (aiohttp, own thread)."""
from __future__ import annotations

import asyncio
import socket
import threading

import socketio
from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class EventServer:
    """Speaks lpr-server's protocol (``lpr_batch``, ``heartbeat``); rejects plates listed in
    ``reject``, never acknowledges a batch holding a plate in ``ignore``; checks the token."""

    def __init__(self, token: str = '', reject: tuple[str, ...] = (), ignore: tuple[str, ...] = (),
                 max_bytes: int = 1_000_000):
        self.token, self.reject, self.ignore = token, set(reject), set(ignore)
        self.received: list[dict] = []
        self.heartbeats: list[dict] = []
        self.connections = 0
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self._sio = socketio.AsyncServer(async_mode='aiohttp', max_http_buffer_size=max_bytes)
        self._sio.on('connect', self._connect)
        self._sio.on('lpr_batch', self._batch)
        self._sio.on('heartbeat', self._heartbeat)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _connect(self, sid, environ, auth):
        if self.token and (auth or {}).get('token') != self.token:
            return False
        self.connections += 1
        return True

    async def _batch(self, sid, events):
        if any(e.get('plate') in self.ignore for e in events):
            await asyncio.sleep(3600)   # never acknowledged
        results = []
        for data in events:
            if data.get('plate') in self.reject:
                results.append({'event_id': data['event_id'], 'status': 'rejected',
                                'error': 'plate refused by test server'})
            elif any(r['event_id'] == data['event_id'] for r in self.received):
                results.append({'event_id': data['event_id'], 'status': 'duplicate'})   # idempotent
            else:
                self.received.append(data)
                results.append({'event_id': data['event_id'], 'status': 'stored'})
        return {'status': 'success', 'results': results}

    async def _heartbeat(self, sid, status):
        self.heartbeats.append(status)
        return {'status': 'success'}

    def _serve(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        self._sio.attach(app)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, '127.0.0.1', self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    async def _close(self):
        await self._sio.shutdown()
        await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class LprServerProcess:
    """The real ``lpr-server`` in a subprocess on 127.0.0.1 (so a test can SIGKILL it)."""

    def __init__(self, data_dir, port: int | None = None, args: tuple[str, ...] = (), scheme: str = 'http'):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.url = f'{scheme}://127.0.0.1:{self.port}'
        self.proc = None

    def start(self, timeout_s: float = 30.0) -> 'LprServerProcess':
        import subprocess
        import sys
        import time
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / 'server.log'
        with open(self.log, 'ab') as log:   # a file, not a pipe: a full pipe would stall the server
            self.proc = subprocess.Popen([sys.executable, '-m', 'lpr_server', 'serve', '--data-dir',
                                          str(self.data_dir), '--port', str(self.port), '--log-level', 'warning',
                                          *self.args], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'lpr-server exited: {self.log.read_text()}')
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError('lpr-server did not start')

    def kill(self) -> None:
        import signal
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - then kill it
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
