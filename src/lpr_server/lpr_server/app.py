"""The ASGI app: python-socketio for the edges, the REST API beside it, under uvicorn."""
from __future__ import annotations

import asyncio
import logging
import urllib.parse
from dataclasses import dataclass

import socketio

from lpr_server import lists, validate
from lpr_server.api import Api
from lpr_server.protocol import ERROR, SUCCESS, Protocol
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
    list_poll_s: float = 2.0               # how often list changes (e.g. by the CLI) are looked for


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

    watcher: list = []      # the list watcher, started with the first connection (needs the loop)

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
        if not watcher:
            watcher.append(sio.start_background_task(watch_lists, sio, store, options.list_poll_s))

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

    @sio.on(lists.HELLO_EVENT)
    async def lists_hello(sid, data=None):
        return await asyncio.to_thread(lists_reply, store, await device_of(sid), data)

    @sio.on(lists.ACK_EVENT)
    async def lists_ack(sid, data=None):
        device, ack = await device_of(sid), lists.parse_ack(data)
        if ack is None:
            return {'status': ERROR, 'error': 'malformed list acknowledgement'}
        if ack.error:
            log.warning('device %s did not apply the %s list v%d: %s', device.name, ack.scope, ack.version,
                        ack.error)
        await asyncio.to_thread(store.record_list_ack, device.id, ack)
        return {'status': SUCCESS}

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


def lists_reply(store: Store, device, data) -> dict:
    """The answer to an edge's ``lpr_lists_hello``: the lists whose version it lacks."""
    if not store.is_active(device.id):
        return {'status': ERROR, 'error': 'device token revoked'}
    held = data.get('versions') if isinstance(data, dict) else None
    stale = lists.lacking(device.name, held, store.list_versions())
    return {'status': SUCCESS, 'lists': [lists.payload(scope, *store.list_snapshot(scope)) for scope in stale]}


async def push_list(sio: socketio.AsyncServer, store: Store, scope: str) -> None:
    """Push one scope's whole list to the edges it concerns."""
    version, entries = await asyncio.to_thread(store.list_snapshot, scope)
    await push(sio, lists.PUSH_EVENT, lists.payload(scope, version, entries), device=scope)
    log.info('pushed the %s list v%d (%d entries)', scope or 'all-devices', version, len(entries))


async def watch_lists(sio: socketio.AsyncServer, store: Store, interval_s: float) -> None:
    """Push every list whose version changed (the CLI writes from another
    process, so the database is the signal). With several server processes
    each one pushes: the edges ignore a version they already hold."""
    seen: dict[str, int] = {}    # the first round pushes every list once (no change slips by)
    while True:
        try:
            now = await asyncio.to_thread(store.list_versions)
            for scope in lists.changed(seen, now):
                await push_list(sio, store, scope)
            seen = now
        except Exception as exc:  # noqa: BLE001 - a database outage must not end the watcher
            log.error('list watcher: %s', exc)
        await sio.sleep(interval_s)


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
