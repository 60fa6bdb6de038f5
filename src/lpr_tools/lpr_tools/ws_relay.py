"""A WebSocket front for the Foxglove SDK server that also speaks the old
subprotocol name.

The SDK accepts only ``foxglove.sdk.v1``; Lichtblick, older Foxglove Studio
releases and roslibjs-foxglove ask for ``foxglove.websocket.v1`` and get
HTTP 400. Foxglove states the two are the same protocol under two names, so
this relay accepts either on the public port and forwards every frame,
unchanged, to the SDK server listening on loopback under ``foxglove.sdk.v1``.
A client that offers neither name is refused with one log line saying why.
"""
from __future__ import annotations

import asyncio
import logging
import threading

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

SUBPROTOCOLS = ('foxglove.sdk.v1', 'foxglove.websocket.v1')
BACKEND_SUBPROTOCOL = 'foxglove.sdk.v1'

log = logging.getLogger('lpr.foxglove')


class RelayError(RuntimeError):
    """The relay cannot listen (port taken, bad address)."""


class SubprotocolRelay:
    """Listen on ``host:port``; relay each client to ``ws://127.0.0.1:backend_port``."""

    def __init__(self, host: str, port: int, backend_port: int, on_log=None):
        self.host, self.requested_port, self.backend_port = host, port, backend_port
        self.port = 0
        self._say = on_log or log.info
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name='ws-relay', daemon=True)
        self._server = None

    def start(self) -> 'SubprotocolRelay':
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        try:
            self._server = future.result(10.0)
        except OSError as exc:
            self.stop()
            raise RelayError(str(exc)) from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            asyncio.run_coroutine_threadsafe(self._server.wait_closed(), self._loop).result(5.0)
            self._server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)

    async def _listen(self):
        return await serve(self._client, self.host, self.requested_port, subprotocols=list(SUBPROTOCOLS),
                           select_subprotocol=self._select, max_size=None, compression=None)

    def _select(self, connection, offered):
        chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
        if chosen is None:
            self._say(f'Foxglove client {connection.remote_address[0]} refused: it offers '
                      f'{", ".join(offered) or "no subprotocol"}; this bridge speaks {" or ".join(SUBPROTOCOLS)}')
        return chosen

    async def _client(self, front) -> None:
        url = f'ws://127.0.0.1:{self.backend_port}'
        async with connect(url, subprotocols=[BACKEND_SUBPROTOCOL], max_size=None, compression=None) as back:
            await _pump_both(front, back)


async def _pump_both(a, b) -> None:
    """Copy frames both ways until either side closes, then close the other."""
    async def pump(src, dst):
        try:
            async for frame in src:
                await dst.send(frame)   # str stays a text frame, bytes a binary frame
        except ConnectionClosed:
            pass
    tasks = [asyncio.create_task(pump(a, b)), asyncio.create_task(pump(b, a))]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.gather(a.close(), b.close(), return_exceptions=True)
