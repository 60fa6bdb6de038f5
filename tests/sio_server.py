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
    """Accepts ``lpr_event``; rejects plates listed in ``reject``; checks the token."""

    def __init__(self, token: str = '', reject: tuple[str, ...] = (), ignore: tuple[str, ...] = (),
                 max_bytes: int = 1_000_000):
        self.token, self.reject, self.ignore = token, set(reject), set(ignore)
        self.received: list[dict] = []
        self.connections = 0
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self._sio = socketio.AsyncServer(async_mode='aiohttp', max_http_buffer_size=max_bytes)
        self._sio.on('connect', self._connect)
        self._sio.on('lpr_event', self._event)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _connect(self, sid, environ, auth):
        if self.token and (auth or {}).get('token') != self.token:
            return False
        self.connections += 1
        return True

    async def _event(self, sid, data):
        if data.get('plate') in self.ignore:
            await asyncio.sleep(3600)   # never acknowledged
        if data.get('plate') in self.reject:
            return {'status': 'error', 'error': 'plate refused by test server'}
        if not any(r['event_id'] == data['event_id'] for r in self.received):
            self.received.append(data)   # idempotent by event_id
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
