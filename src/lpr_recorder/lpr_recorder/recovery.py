"""Start-up recovery of the image store against the journal.

A crash or power cut can leave behind what ``EventWriter.commit`` had not
finished: temporary files (``.<name>.tmp``) of an interrupted image write, and
images whose journal row never committed (orphans). ``recover`` removes both
and reports rows whose images are missing; it never deletes rows.

It must run before the writer starts (the node runs it in ``configure``): an
image written while it runs could be taken for an orphan. It scales with the
journal: the tree is walked once and the rows are streamed, event id and path
columns only, never loaded as ORM objects.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from lpr_recorder.images import ImageStore
from lpr_recorder.journal import Event, Journal

IMAGE_SUFFIX = '.jpg'  # every name ImageStore.name_for gives; other files are never touched
# Every column naming an image file (frame, plate, vehicle, processed, ...): a
# new image column is covered without touching this module.
IMAGE_COLUMNS = tuple(c for c in Event.__table__.columns if c.name.endswith('_path'))
STREAM_ROWS = 2000


@dataclass
class RecoveryReport:
    rows: int = 0                  # journal rows looked at
    files: int = 0                 # image files found under the root
    tmp_removed: int = 0           # leftovers of interrupted writes
    orphans_removed: int = 0       # images no row references
    rows_missing_images: int = 0   # rows referencing a file that is not there (kept)
    missing_examples: list[str] = field(default_factory=list)  # their first event ids
    remove_errors: int = 0         # files that could not be removed

    @property
    def clean(self) -> bool:
        return not (self.tmp_removed or self.orphans_removed or self.rows_missing_images
                    or self.remove_errors)

    def summary(self) -> str:
        text = (f'recovery: {self.rows} rows, {self.files} images; removed {self.tmp_removed} '
                f'temporary and {self.orphans_removed} orphan files; '
                f'{self.rows_missing_images} rows with missing images')
        if self.missing_examples:
            text += f' (e.g. {", ".join(self.missing_examples)})'
        if self.remove_errors:
            text += f'; {self.remove_errors} files could not be removed'
        return text


def is_tmp_name(name: str) -> bool:
    """The temporary name ImageStore.write gives: ``.<final name>.tmp``."""
    return name.startswith('.') and name.endswith('.tmp')


def recover(journal: Journal, store: ImageStore, max_examples: int = 5) -> RecoveryReport:
    report = RecoveryReport()
    root = store.root
    # path -> referenced by a row. Walk first, rows second: a row always comes
    # after its images, so no file a committed row references is taken for an orphan.
    on_disk: dict[str, bool] = {}
    if root.is_dir():
        for rel, path in _walk(root):
            if is_tmp_name(path.name):
                _remove(path, report, 'tmp_removed')
            elif path.name.endswith(IMAGE_SUFFIX):
                on_disk[rel] = False
    report.files = len(on_disk)

    for event_id, *paths in _stream_paths(journal):
        report.rows += 1
        missing = False
        for rel in paths:
            if not rel:
                continue
            if rel in on_disk:
                on_disk[rel] = True
            else:
                missing = True
        if missing:
            report.rows_missing_images += 1
            if len(report.missing_examples) < max_examples:
                report.missing_examples.append(event_id)

    for rel, referenced in on_disk.items():
        if not referenced:
            _remove(root / rel, report, 'orphans_removed')
    return report


def _walk(root: Path):
    """(relative posix path, absolute path) of every regular file under ``root``."""
    for dirpath, _dirs, files in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        for name in files:
            rel = name if rel_dir == '.' else f'{rel_dir}/{name}'
            yield rel, base / name


def _stream_paths(journal: Journal):
    q = select(Event.event_id, *IMAGE_COLUMNS)
    with journal.engine.connect() as conn:
        result = conn.execution_options(yield_per=STREAM_ROWS).execute(q)
        for row in result:
            yield tuple(row)


def _remove(path: Path, report: RecoveryReport, counter: str) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError:
        report.remove_errors += 1
        return
    setattr(report, counter, getattr(report, counter) + 1)
