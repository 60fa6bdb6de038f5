"""The ASGI app: python-socketio for the edges, the REST API beside it, under uvicorn."""
from __future__ import annotations

import asyncio
import logging
import urllib.parse
from dataclasses import dataclass

import socketio

from lpr_server import validate
from lpr_server.api import Api
from lpr_server.protocol import ERROR, Protocol
from lpr_server.store import Store

log = logging.getLogger(__name__)

NAMESPACE = '/'
EDGES_ROOM = 'edges'        # every connected edge device


def device_room(name: str) -> str:
    """The room of one device's connections (whichever server process holds them)."""
    return f'device:{name}'


@dataclass(frozen=True)
class ServerOptions:
    host: str = '127.0.0.1'
    port: int = 8443
    certfile: str = ''
    keyfile: str = ''
    max_image_bytes: int = 4_000_000
    max_batch: int = 500
    max_message_bytes: int = 16_000_000     # one Socket.IO message (batch JSON, or one attachment)
    online_within_s: float = 90.0          # a device seen within this is "online"
    redis_url: str = ''                    # several server processes behind a load balancer
    log_level: str = 'info'


def bearer(header: str) -> str:
    scheme, _, value = (header or '').partition(' ')
    return value.strip() if scheme.lower() == 'bearer' else ''


def create_sio(store: Store, options: ServerOptions) -> socketio.AsyncServer:
    manager = socketio.AsyncRedisManager(options.redis_url) if options.redis_url else None
    sio = socketio.AsyncServer(async_mode='asgi', client_manager=manager, cors_allowed_origins=[],
                               max_http_buffer_size=options.max_message_bytes)
    protocol = Protocol(store, validate.Limits(max_image_bytes=options.max_image_bytes), options.max_batch)

    async def device_of(sid):
        return (await sio.get_session(sid))['device']

    @sio.event
    async def connect(sid, environ, auth):
        token = auth.get('token') if isinstance(auth, dict) else None
        token = token or bearer(environ.get('HTTP_AUTHORIZATION', ''))
        device = await asyncio.to_thread(store.authenticate, token)
        if device is None:
            log.warning('refused a connection from %s: %s device token', environ.get('REMOTE_ADDR'),
                        'no' if not token else 'unknown or revoked')
            raise socketio.exceptions.ConnectionRefusedError('missing, unknown or revoked device token')
        await sio.save_session(sid, {'device': device})
        await sio.enter_room(sid, EDGES_ROOM)
        await sio.enter_room(sid, device_room(device.name))
        await asyncio.to_thread(store.touch, device.id, environ.get('REMOTE_ADDR', ''))
        log.info('device %s connected from %s', device.name, environ.get('REMOTE_ADDR'))

    @sio.event
    async def disconnect(sid, *reason):
        device = await device_of(sid)
        await asyncio.to_thread(store.touch, device.id)
        log.info('device %s disconnected', device.name)

    @sio.on('lpr_batch')
    async def lpr_batch(sid, events):
        return await asyncio.to_thread(protocol.batch, await device_of(sid), events)

    @sio.on('lpr_event')
    async def lpr_event(sid, data):
        return await asyncio.to_thread(protocol.event, await device_of(sid), data)

    @sio.on('heartbeat')
    async def heartbeat(sid, status):
        return await asyncio.to_thread(protocol.heartbeat, await device_of(sid), status)

    @sio.on('*')
    async def other(event, sid, data=None):
        if validate.is_legacy(data):        # the seed's message, whatever its event name
            return await asyncio.to_thread(protocol.event, await device_of(sid), data)
        return {'status': ERROR, 'error': f'unknown message {event!r:.40}'}

    return sio


async def push(sio: socketio.AsyncServer, event: str, data, device: str = '') -> None:
    """Send ``event`` to one device (``device``) or to every edge. With --redis-url
    the emit goes through Redis, so it reaches edges connected to any process."""
    await sio.emit(event, data, room=device_room(device) if device else EDGES_ROOM)


def external_pusher(redis_url: str) -> socketio.RedisManager:
    """What a process that is no server (a CLI, an admin tool) uses to reach the
    edges of a Redis-backed deployment: ``.emit(event, data, room=device_room(name))``."""
    return socketio.RedisManager(redis_url, write_only=True)


def create_rest(api: Api):
    async def rest(scope, receive, send):
        if scope['type'] != 'http':
            return
        query = dict(urllib.parse.parse_qsl(scope.get('query_string', b'').decode('utf-8', 'replace'),
                                            keep_blank_values=True))
        headers = {k.decode('latin-1').lower(): v.decode('latin-1') for k, v in scope.get('headers', [])}
        response = await asyncio.to_thread(api.handle, scope['method'], scope['path'], query,
                                           bearer(headers.get('authorization', '')))
        await send({'type': 'http.response.start', 'status': response.status,
                    'headers': [(b'content-type', response.content_type.encode()),
                                (b'cache-control', b'no-store'),
                                (b'x-content-type-options', b'nosniff')]
                               + [(k.encode(), v.encode()) for k, v in response.headers]})
        await send({'type': 'http.response.body',
                    'body': b'' if scope['method'] == 'HEAD' else response.body})
    return rest


def create_app(store: Store, options: ServerOptions = ServerOptions()):
    sio = create_sio(store, options)
    return socketio.ASGIApp(sio, other_asgi_app=create_rest(Api(store, options.online_within_s)))


def serve(store: Store, options: ServerOptions) -> None:
    import uvicorn
    config = uvicorn.Config(create_app(store, options), host=options.host, port=options.port,
                            ssl_certfile=options.certfile or None, ssl_keyfile=options.keyfile or None,
                            log_level=options.log_level, lifespan='off', server_header=False)
    uvicorn.Server(config).run()
