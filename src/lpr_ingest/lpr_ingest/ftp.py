"""Pictures uploaded by FTP (both vendors offer it): a pyftpdlib server on a
chosen port, and the file-name pattern that gives plate and time. No ROS here.

The pattern is a regular expression with the named groups ``plate`` and
``time`` (parsed with ``time_format``, strptime; no zone = this machine's
local time) and optionally ``camera``; without a camera group the camera is
the upload's first folder, else the FTP user. A picture whose name does not
match is moved to ``<root>/unparsed/`` (kept, counted, logged), never
deleted. An upload over ``max_bytes`` is aborted (552) and its partial file
removed.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from lpr_ingest.event import FTP, CameraRead, clean_plate

UNPARSED = 'unparsed'
_log = logging.getLogger('pyftpdlib')
DEFAULT_PATTERN = r'(?P<camera>[^_/]+)_(?P<time>\d{17})_(?P<plate>[0-9A-Za-z]+)(_[^/]*)?\.jpe?g'
DEFAULT_TIME_FORMAT = '%Y%m%d%H%M%S%f'   # 20261202145124123: milliseconds as %f


@dataclass(frozen=True)
class NamePattern:
    regex: re.Pattern
    time_format: str

    @classmethod
    def compile(cls, pattern: str, time_format: str) -> 'NamePattern':
        """Raises ValueError for a pattern without the plate and time groups."""
        regex = re.compile(pattern, re.IGNORECASE)
        missing = {'plate', 'time'} - set(regex.groupindex)
        if missing:
            raise ValueError(f'file_pattern needs the named group(s) {", ".join(sorted(missing))}')
        return cls(regex, time_format)

    def parse(self, name: str) -> tuple[str, int, str] | None:
        """(plate, UTC ns, camera or '') of a file name, None when it does not fit."""
        match = self.regex.fullmatch(name)
        if match is None:
            return None
        try:
            when = dt.datetime.strptime(match['time'], self.time_format)
        except ValueError:
            return None
        plate = clean_plate(match['plate'])
        if not plate:
            return None
        if when.tzinfo is None:
            when = when.astimezone()
        camera = match['camera'] if 'camera' in self.regex.groupindex else ''
        return plate, int(round(when.timestamp() * 1e6)) * 1000, camera or ''


class UploadIngest:
    """Turns each uploaded picture into a CameraRead for ``accept``; a
    picture ``accept`` cannot take now stays where it is (taken at the next
    start, see ``pending``)."""

    def __init__(self, root: Path, pattern: NamePattern, accept: Callable[[CameraRead], bool],
                 warn: Callable[[str], None] = print):
        self.root, self.pattern, self.accept, self.warn = Path(root).resolve(), pattern, accept, warn
        self.counts: Counter = Counter()
        (self.root / UNPARSED).mkdir(parents=True, exist_ok=True)

    def pending(self) -> list[Path]:
        """Uploads already in the root (from before this start), oldest first."""
        files = [p for p in self.root.rglob('*') if p.is_file() and UNPARSED not in p.relative_to(self.root).parts]
        return sorted(files, key=lambda p: p.stat().st_mtime)

    def take(self, path: Path, user: str = '') -> None:
        path = Path(path)
        rel = path.relative_to(self.root)
        parsed = self.pattern.parse(path.name)
        if parsed is None:
            self._keep_unparsed(path, rel)
            return
        plate, stamp, camera = parsed
        camera = camera or (rel.parts[0] if len(rel.parts) > 1 else '') or user or 'ftp'
        read = CameraRead(source=FTP, camera_id=camera, stamp_ns=stamp, plate=plate,
                          vendor_event_id=str(rel), scene_jpeg=path.read_bytes())
        if self.accept(read):
            self.counts['accepted'] += 1
            path.unlink()
        else:
            self.counts['not_accepted'] += 1

    def _keep_unparsed(self, path: Path, rel: Path) -> None:
        target = self.root / UNPARSED / '_'.join(rel.parts)
        n = 1
        while target.exists():
            target = target.with_name(f'{target.stem}.{n}{target.suffix}')
            n += 1
        path.replace(target)
        self.counts['unparsed'] += 1
        self.warn(f'FTP upload {rel}: name does not fit file_pattern; kept as {target}')


class FtpServer:
    """pyftpdlib on its own IO loop in a thread."""

    def __init__(self, host: str, port: int, ingest: UploadIngest, username: str, password: str,
                 max_bytes: int, passive_ports: range | None = None):
        authorizer = DummyAuthorizer()
        root = str(ingest.root)
        if password:
            authorizer.add_user(username, password, root, perm='elamw')   # no delete, no rename
        else:
            authorizer.add_anonymous(root, perm='elamw')
        dtp = type('LimitedDTP', (_LimitedDTP,), {'max_bytes': max_bytes, 'ingest': ingest})
        handler = type('IngestFTP', (_IngestFTP,), {
            'authorizer': authorizer, 'dtp_handler': dtp, 'ingest': ingest,
            'passive_ports': passive_ports, 'banner': 'lpr ingest ready'})
        self._server = FTPServer((host, port), handler, ioloop=IOLoop())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.address[1]

    def start(self) -> None:
        _log.setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._serve, name='ingest-ftp', daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():   # serve_forever's loop, without its start-up log line per turn
            self._server.ioloop.loop(0.2, blocking=False)
        self._server.close_all()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(5.0)
            self._thread = None


class _LimitedDTP(DTPHandler):
    max_bytes: int
    ingest: UploadIngest

    def handle_read(self):
        super().handle_read()
        if self.receive and self.tot_bytes_received > self.max_bytes and not self._closed:
            self.ingest.counts['oversize'] += 1
            self._resp = (f'552 Upload larger than {self.max_bytes} bytes; transfer aborted.', _log.warning)
            self.close()

    handle_read_event = handle_read


class _IngestFTP(FTPHandler):
    ingest: UploadIngest

    def on_file_received(self, file):
        try:
            self.ingest.take(Path(file), self.username or '')
        except Exception as exc:  # noqa: BLE001 - one bad upload must not stop the server
            self.ingest.counts['errors'] += 1
            self.ingest.warn(f'FTP upload {file} not taken: {type(exc).__name__}: {exc}')

    def on_incomplete_file_received(self, file):
        Path(file).unlink(missing_ok=True)   # aborted or oversize: nothing half-written is kept

    def on_login_failed(self, username, password):
        self.ingest.counts['auth_refused'] += 1
        self.ingest.warn(f'FTP login as {username!r} from {self.remote_ip} refused: wrong credentials')
