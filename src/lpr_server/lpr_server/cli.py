"""``lpr-server``: run the central server, manage device tokens and API keys.

    lpr-server [serve] [--host H] [--port P] [--certfile F --keyfile F] ...
    lpr-server device add NAME | revoke NAME | list
    lpr-server apikey add NAME | revoke NAME | list
    lpr-server list add LIST PLATE [--device NAME] [--cameras C] [--valid-from T] [--valid-until T] [--note N]
    lpr-server list remove ID... | show [--device NAME] | import FILE.csv [--device NAME]

Access lists are for every device, or for one (``--device``); the server
pushes each change to the edges it concerns (lpr_server.lists).

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
    # Images in an S3-compatible bucket instead of --image-dir; its keys come from the environment only.
    p.add_argument('--images', default=os.environ.get('LPR_SERVER_IMAGES', ''), metavar='s3://BUCKET/PREFIX',
                   help='keep images in this bucket (or $LPR_SERVER_IMAGES; default: --image-dir); credentials: '
                        '$LPR_SERVER_S3_ACCESS_KEY_ID and $LPR_SERVER_S3_SECRET_ACCESS_KEY (or their _FILE '
                        "variants naming a file), else boto3's own chain (AWS_* variables, ~/.aws, a role)")
    p.add_argument('--s3-endpoint-url', default=os.environ.get('LPR_SERVER_S3_ENDPOINT_URL', ''),
                   help='a store other than AWS, e.g. https://minio.example:9000 (or $LPR_SERVER_S3_ENDPOINT_URL)')
    p.add_argument('--s3-region', default=os.environ.get('LPR_SERVER_S3_REGION', ''),
                   help="the bucket's region (or $LPR_SERVER_S3_REGION; default: boto3's)")
    p.add_argument('--redis-url', default=os.environ.get('LPR_SERVER_REDIS_URL', ''),
                   help='redis://host:port/0 (or $LPR_SERVER_REDIS_URL): share rooms and emits between several '
                        'server processes behind a load balancer (use PostgreSQL for --db-url then)')
    p.add_argument('--list-poll-s', type=float, default=d.list_poll_s,
                   help='look for access list changes this often and push them to the edges')
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
    _list_args(sub.add_parser('list', help='access lists pushed to the edges'))
    return p


def _list_args(group: argparse.ArgumentParser) -> None:
    actions = group.add_subparsers(dest='action', required=True)
    add = actions.add_parser('add', help='add one plate')
    add.add_argument('list_name', metavar='LIST', help='allow, deny or visitor')
    add.add_argument('plate')
    add.add_argument('--cameras', default='', help='camera ids (space or comma separated); default: every camera')
    add.add_argument('--valid-from', default='', help='ISO 8601 (UTC unless a zone is given); default: now on')
    add.add_argument('--valid-until', default='', help='ISO 8601; default: no end')
    add.add_argument('--note', default='')
    remove = actions.add_parser('remove', help='remove entries by id (see show)')
    remove.add_argument('ids', metavar='ID', type=int, nargs='+')
    show = actions.add_parser('show', help='the entries, their versions and what each device acknowledged')
    imp = actions.add_parser('import', help='add the entries of a CSV file: list,plate[,cameras,valid_from,'
                                            'valid_until,note]; nothing is added if a line is bad')
    imp.add_argument('file', type=Path)
    for a in (add, show, imp):
        a.add_argument('--device', default='', help='one device only (default: every device)')
    for a in (add, remove, show, imp):
        _store_args(a)


def _open_store(args):
    from lpr_server.store import Store
    data = args.data_dir or default_data_dir()
    db_url = args.db_url or f'sqlite:///{data / "server.sqlite"}'
    return Store(db_url, _open_images(args, data))


def _open_images(args, data: Path):
    """The image store: --images s3://… (serve only), else the image directory."""
    from lpr_server.images import open_images
    where = getattr(args, 'images', '') or args.image_dir or data / 'images'
    try:
        images = open_images(where, getattr(args, 's3_endpoint_url', ''), getattr(args, 's3_region', ''))
        images.check()
    except ImportError as exc:
        raise SystemExit(f'error: --images {where} needs boto3 ({exc})') from None
    except (OSError, ValueError) as exc:
        raise SystemExit(f'error: {exc}') from None
    return images


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
                            log_level=args.log_level, list_poll_s=args.list_poll_s)
    scheme = 'https' if args.certfile else 'http'
    if args.redis_url and store.url.startswith('sqlite'):
        print('lpr-server: warning: --redis-url with SQLite: processes on one host only, and writers '
              'wait for each other (use PostgreSQL)', file=sys.stderr, flush=True)
    shared = f'  redis {args.redis_url.split("@")[-1]}' if args.redis_url else ''
    print(f'lpr-server: {scheme}://{args.host}:{args.port}  store {store.url.split("@")[-1]}  '
          f'images {store.images}{shared}', flush=True)
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


def _lists(args) -> int:
    from lpr_server import lists
    from lpr_server.store import StoreError
    store = _open_store(args)
    try:
        if args.action == 'show':
            _show_lists(store, args.device)
            return 0
        if args.action == 'remove':
            for scope, version in store.remove_list_entries(args.ids).items():
                print(f'removed; {_scope_name(scope)} list now v{version}')
            return 0
        if args.action == 'add':
            entries = [lists.make_entry(args.list_name, args.plate, args.cameras, args.valid_from,
                                        args.valid_until, args.note)]
        else:
            result = lists.parse_csv(args.file.read_text(encoding='utf-8-sig'))
            for line, reason in result.errors:
                print(f'error: {args.file}:{line}: {reason}', file=sys.stderr)
            if result.errors:
                return 1
            entries = result.entries
        version = store.add_list_entries(args.device, entries, by=os.environ.get('USER', ''))
        print(f'added {len(entries)}; {_scope_name(args.device)} list now v{version}')
        return 0
    except (StoreError, ValueError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    finally:
        store.close()


def _scope_name(scope: str) -> str:
    return f'device {scope}' if scope else 'all-devices'


def _show_lists(store, device: str) -> None:
    versions = store.list_versions()
    scopes = [''] + ([device] if device else sorted(s for s in versions if s))
    for scope in scopes:
        print(f'# {_scope_name(scope)} list v{versions.get(scope, 0)}')
        for e in store.list_rows(scope):
            window = f'{e.valid_from:%Y-%m-%d %H:%M}' if e.valid_from else '-'
            window += f'..{e.valid_until:%Y-%m-%d %H:%M}' if e.valid_until else '..'
            print(f'{e.id:6} {e.list_name:8} {e.plate:12} {e.cameras or "all cameras":16} {window:35} {e.note}')
    for name, ack in store.list_acks():
        if not device or name == device:
            state = f'error: {ack.error}' if ack.error else 'applied'
            print(f'# {name} holds the {ack.scope} list v{ack.version} ({state}, {ack.acked_at:%Y-%m-%d %H:%M:%S})')


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith('-'):
        argv.insert(0, 'serve')
    args = parser().parse_args(argv)
    if args.command == 'serve':
        return _serve(args)
    if args.command == 'list':
        return _lists(args)
    return _credentials(args)


if __name__ == '__main__':
    raise SystemExit(main())
