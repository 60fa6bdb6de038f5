"""``lpr-server``: run the central server, manage device tokens and API keys.

    lpr-server [serve] [--host H] [--port P] [--certfile F --keyfile F] ...
    lpr-server device add NAME | revoke NAME | list
    lpr-server apikey add NAME | revoke NAME | list

Where the data goes: ``--db-url`` (or $LPR_SERVER_DB_URL; default SQLite in
the data directory) and ``--image-dir``; the data directory is
``--data-dir``, $LPR_SERVER_DATA_DIR, else $XDG_DATA_HOME/lpr-server.
Several processes behind a load balancer: ``--redis-url`` (or
$LPR_SERVER_REDIS_URL), a PostgreSQL ``--db-url`` and one shared ``--image-dir``.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path

from lpr_server.app import ServerOptions
from lpr_server.models import API, DEVICE

DEFAULTS = ServerOptions()


def default_data_dir() -> Path:
    if os.environ.get('LPR_SERVER_DATA_DIR'):
        return Path(os.environ['LPR_SERVER_DATA_DIR']).expanduser()
    base = os.environ.get('XDG_DATA_HOME') or Path.home() / '.local' / 'share'
    return Path(base) / 'lpr-server'


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('--data-dir', type=Path, default=None, help='default: $LPR_SERVER_DATA_DIR or ~/.local/share/lpr-server')
    p.add_argument('--db-url', default=os.environ.get('LPR_SERVER_DB_URL', ''),
                   help='SQLAlchemy URL, e.g. postgresql+psycopg://lpr@db/lpr (or $LPR_SERVER_DB_URL); '
                        'default: SQLite in the data directory')
    p.add_argument('--image-dir', type=Path, default=None, help='default: images/ in the data directory')


def _serve_args(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument('--host', default=d.host, help=f'address to listen on (default {d.host})')
    p.add_argument('--port', type=int, default=d.port, help=f'default {d.port}')
    p.add_argument('--certfile', default='', help='TLS certificate chain (PEM); with --keyfile: https/wss only')
    p.add_argument('--keyfile', default='', help='TLS private key (PEM)')
    p.add_argument('--allow-insecure', action='store_true',
                   help='listen without TLS on an address other than loopback (trusted LAN only)')
    p.add_argument('--max-image-bytes', type=int, default=d.max_image_bytes, help='larger images are refused')
    p.add_argument('--max-batch', type=int, default=d.max_batch, help='events per batch message')
    p.add_argument('--max-message-bytes', type=int, default=d.max_message_bytes,
                   help='largest Socket.IO message; a bigger one closes the connection')
    p.add_argument('--redis-url', default=os.environ.get('LPR_SERVER_REDIS_URL', ''),
                   help='redis://host:port/0 (or $LPR_SERVER_REDIS_URL): share rooms and emits between several '
                        'server processes behind a load balancer (use PostgreSQL for --db-url then)')
    p.add_argument('--log-level', default=d.log_level, choices=['debug', 'info', 'warning', 'error'])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='lpr-server', description='Central lpr server.')
    sub = p.add_subparsers(dest='command')
    serve = sub.add_parser('serve', help='run the server (the default command)')
    _store_args(serve)
    _serve_args(serve)
    for noun, help_text in (('device', 'edge device tokens'), ('apikey', 'REST API keys')):
        group = sub.add_parser(noun, help=help_text)
        actions = group.add_subparsers(dest='action', required=True)
        for action in ('add', 'revoke'):
            a = actions.add_parser(action)
            a.add_argument('name')
            _store_args(a)
        _store_args(actions.add_parser('list'))
    return p


def _open_store(args):
    from lpr_server.store import Store
    data = args.data_dir or default_data_dir()
    db_url = args.db_url or f'sqlite:///{data / "server.sqlite"}'
    return Store(db_url, args.image_dir or data / 'images')


def _is_loopback(host: str) -> bool:
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args) -> int:
    from lpr_server.app import serve
    if bool(args.certfile) != bool(args.keyfile):
        print('error: --certfile and --keyfile go together', file=sys.stderr)
        return 2
    if not args.certfile and not _is_loopback(args.host) and not args.allow_insecure:
        print(f'error: refusing to listen on {args.host} without TLS: device tokens would cross the network '
              'in clear. Give --certfile/--keyfile, or --allow-insecure for a trusted LAN.', file=sys.stderr)
        return 2
    if args.redis_url:
        try:
            import redis  # noqa: F401 - python-socketio's Redis manager needs it
        except ImportError:
            print('error: --redis-url needs the redis package (pip install redis)', file=sys.stderr)
            return 2
    logging.basicConfig(level=args.log_level.upper(), format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    store = _open_store(args)
    options = ServerOptions(host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile,
                            max_image_bytes=args.max_image_bytes, max_batch=args.max_batch,
                            max_message_bytes=args.max_message_bytes, redis_url=args.redis_url,
                            log_level=args.log_level)
    scheme = 'https' if args.certfile else 'http'
    if args.redis_url and store.url.startswith('sqlite'):
        print('lpr-server: warning: --redis-url with SQLite: processes on one host only, and writers '
              'wait for each other (use PostgreSQL)', file=sys.stderr, flush=True)
    shared = f'  redis {args.redis_url.split("@")[-1]}' if args.redis_url else ''
    print(f'lpr-server: {scheme}://{args.host}:{args.port}  store {store.url.split("@")[-1]}  '
          f'images {store.image_dir}{shared}', flush=True)
    try:
        serve(store, options)
    finally:
        store.close()
    return 0


def _credentials(args) -> int:
    from lpr_server.store import StoreError
    role = DEVICE if args.command == 'device' else API
    store = _open_store(args)
    try:
        if args.action == 'add':
            try:
                print(store.add_device(args.name, role))
            except StoreError as exc:
                print(f'error: {exc}', file=sys.stderr)
                return 1
            print(f'(the {"device token" if role == DEVICE else "API key"} of {args.name}: shown once, '
                  'only its hash is stored)', file=sys.stderr)
        elif args.action == 'revoke':
            if not store.revoke(args.name):
                print(f'error: no active {args.command} named {args.name!r}', file=sys.stderr)
                return 1
            print(f'revoked {args.name}')
        else:
            for d in store.devices(role):
                state = f'revoked {d.revoked_at:%Y-%m-%d %H:%M}' if d.revoked_at else 'active'
                seen = f'{d.last_seen:%Y-%m-%d %H:%M:%S}' if d.last_seen else 'never'
                print(f'{d.name:24} {state:24} last seen {seen}')
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith('-'):
        argv.insert(0, 'serve')
    args = parser().parse_args(argv)
    if args.command == 'serve':
        return _serve(args)
    return _credentials(args)


if __name__ == '__main__':
    raise SystemExit(main())
