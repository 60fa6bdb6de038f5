"""``lpr web``: serve the local web journal; ``lpr web user add NAME``: a login."""
from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--host', default='127.0.0.1', help='address to listen on (default: %(default)s, this machine only)')
    p.add_argument('--port', type=int, default=8080)
    p.add_argument('--data-dir', default='', help='journal and images directory (default: ~/.local/share/lpr)')
    p.add_argument('--journal', default='', help='journal SQLAlchemy URL (default: <data dir>/journal.sqlite)')
    p.add_argument('--image-dir', default='', help='image directory (default: <data dir>/images)')
    p.add_argument('--secure-cookie', action='store_true', help='send the session cookie over HTTPS only')
    p.add_argument('--session-minutes', type=float, default=30.0, help='log out after this long idle')
    p.add_argument('--entry-cameras', default='', help='camera ids on the way in (space or comma separated): '
                                                       'with --exit-cameras, visits are paired and timed')
    p.add_argument('--exit-cameras', default='', help='camera ids on the way out')
    p.add_argument('--max-stay-days', type=float, default=30.0,
                   help='an entry older than this pairs with no exit (default: %(default)s)')
    sub = p.add_subparsers(dest='web_command')
    user = sub.add_parser('user', help='manage logins')
    user.add_argument('action', choices=['add'], help='add a user, or set the password of an existing one')
    user.add_argument('name')
    user.add_argument('--password-stdin', action='store_true', help='read the password from stdin (scripts)')


def _paths(args) -> tuple[str, Path, Path]:
    from lpr_common.paths import data_dir
    from lpr_recorder.images import resolve_image_dir
    from lpr_recorder.journal import resolve_url, sqlite_url
    base = Path(args.data_dir).expanduser() if args.data_dir else data_dir()
    url = args.journal or (sqlite_url(base / 'journal.sqlite') if args.data_dir else resolve_url(''))
    images = Path(args.image_dir).expanduser() if args.image_dir else (
        base / 'images' if args.data_dir else resolve_image_dir(''))
    return url, images, base


def secret_key(base: Path) -> str:
    """The cookie-signing key, kept in <data dir>/web_secret (mode 600):
    sessions survive a restart; deleting the file logs everyone out."""
    path = base / 'web_secret'
    if not path.exists():
        base.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip('\n')
    first = getpass.getpass('password: ')
    if first != getpass.getpass('again: '):
        raise ValueError('the passwords differ')
    return first


def run(args) -> int:
    from lpr_recorder.journal import JournalError
    from lpr_web.store import WebStore
    from lpr_web.visits import Gates
    url, images, base = _paths(args)
    gates = Gates.parse(args.entry_cameras, args.exit_cameras, args.max_stay_days)
    try:
        store = WebStore(url, images, gates=gates)
    except JournalError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.web_command == 'user':
        password = _read_password(args.password_stdin)
        if len(password) < 8:
            print('error: password shorter than 8 characters', file=sys.stderr)
            return 2
        new = store.set_user(args.name, password)
        print(f"[lpr] web user {args.name} {'added' if new else 'password changed'}", file=sys.stderr)
        return 0
    return serve(store, args, base)


def serve(store, args, base: Path) -> int:
    import uvicorn

    from lpr_web.app import WebOptions, create_app
    if store.user_count() == 0:
        print('note: no web user yet; add one with `lpr web user add NAME`', file=sys.stderr)
    options = WebOptions(idle_s=args.session_minutes * 60, secure_cookie=args.secure_cookie)
    app = create_app(store, secret_key(base), options)
    print(f'[lpr] web journal on http://{args.host}:{args.port}/ ({store.journal.url})', file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level='warning')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='lpr-web', description='The local web journal of an lpr edge.')
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, KeyboardInterrupt) as exc:
        print(f'error: {exc}' if str(exc) else '', file=sys.stderr)
        return 2


if __name__ == '__main__':
    raise SystemExit(main())
