"""Event images on disk, written so that a power cut never leaves a torn file
behind a committed row: temporary name, fsync, rename, fsync the directory."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path


class ImageStoreError(OSError):
    """An image could not be stored (full disk, read-only directory, ...)."""


class ImageStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImageStoreError(f'cannot create image directory {self.root}: {exc.strerror}') from None
        if not os.access(self.root, os.W_OK):
            raise ImageStoreError(f'image directory {self.root} is not writable')

    @staticmethod
    def name_for(camera_id: str, stamp: dt.datetime, event_id: str, kind: str) -> str:
        """``cam0/2025/06/02/20250602_185118_123_<id8>_plate.jpg`` (relative, collision-free)."""
        stamp = stamp.astimezone(dt.timezone.utc)
        base = stamp.strftime('%Y%m%d_%H%M%S_') + f'{stamp.microsecond // 1000:03d}'
        safe_camera = ''.join(c if c.isalnum() or c in '-_' else '_' for c in camera_id) or 'camera'
        return f'{safe_camera}/{stamp:%Y/%m/%d}/{base}_{event_id[:8]}_{kind}.jpg'

    def write(self, relative: str, data: bytes) -> Path:
        """Store ``data`` durably at ``root/relative``; returns the final path."""
        final = self.root / relative
        tmp = final.with_name(f'.{final.name}.tmp')
        try:
            _make_dirs(final.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            _remove_quietly(tmp)
            raise ImageStoreError(f'cannot write image {final}: {exc.strerror or exc}') from None
        return final

    def remove(self, relative: str) -> None:
        _remove_quietly(self.root / relative)

    def size(self, relative: str) -> int:
        try:
            return (self.root / relative).stat().st_size
        except OSError:
            return 0


def _make_dirs(path: Path) -> None:
    """``mkdir -p``, then fsync the parent of each directory it created: the
    fsync of a file's own directory does not make that directory's entry in
    its parent durable, so after a power cut a new day's directory (and every
    image in it) could be gone although the rows referencing them committed."""
    created = []
    p = path
    while not p.is_dir():
        created.append(p)
        p = p.parent
    if not created:
        return
    path.mkdir(parents=True, exist_ok=True)
    for d in reversed(created):
        _fsync_dir(d.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def resolve_image_dir(path: str) -> Path:
    """The configured image directory, or <data dir>/images when empty."""
    from lpr_common.paths import data_dir
    return Path(path).expanduser() if path else data_dir() / 'images'
