"""Retention: delete the oldest events and their images by age, by an image
quota and by a free-space floor. The floor is a share of the partition (5 %
by default, so a small partition is not emptied by a fixed number of GB),
or a number of GB, whichever is larger. Events not yet uploaded are never
deleted unless the installer says so (``delete_unuploaded``): without it a
floor that cannot be kept is reported as an error and the events stay. Rows are deleted before their images (a crash in between
leaves orphan images, which the start-up recovery removes; never a row
pointing at a missing image because of retention)."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import delete, select

from lpr_recorder.images import ImageStore
from lpr_recorder.journal import PENDING, Event, Journal

GB = 1024 ** 3


@dataclass(frozen=True)
class RetentionPolicy:
    max_age_days: float = 0.0    # 0 = no age limit
    max_image_bytes: int = 0     # 0 = no quota
    min_free_bytes: int = 0      # 0 = no absolute floor
    min_free_fraction: float = 0.0   # 0 = no floor relative to the partition's size
    delete_unuploaded: bool = False  # the floor may take events not yet uploaded

    @property
    def active(self) -> bool:
        return bool(self.max_age_days or self.max_image_bytes or self.min_free_bytes or self.min_free_fraction)


@dataclass
class RetentionReport:
    deleted: int = 0
    deleted_pending: int = 0      # not yet uploaded, deleted because the disk would fill
    deleted_for_floor: int = 0    # deleted to keep the free-space floor (uploaded or not)
    short_bytes: int = 0          # what the floor still lacks: only un-uploaded events are left
    freed_bytes: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        """Deletions by the free-space floor, or a floor that cannot be kept: the operator must know."""
        return bool(self.deleted_for_floor or self.short_bytes)

    def summary(self) -> str:
        text = f'retention: deleted {self.deleted} event(s), freed {self.freed_bytes / 1e6:.1f} MB'
        if self.deleted_for_floor:
            text += f'; DISK NEARLY FULL: {self.deleted_for_floor} deleted to keep the free-space floor'
        if self.deleted_pending:
            text += f', {self.deleted_pending} of them NOT YET UPLOADED'
        if self.short_bytes:
            text += (f'; DISK NEARLY FULL: {self.short_bytes / 1e6:.1f} MB short of the free-space floor, '
                     'events not yet uploaded kept (retention_delete_unuploaded allows deleting them)')
        return text


def _paths(row) -> list[str]:
    return [p for p in (row.frame_path, row.plate_path, row.processed_path, row.vehicle_path) if p]


class Retention:
    def __init__(self, journal: Journal, store: ImageStore, policy: RetentionPolicy,
                 free_bytes: Callable[[], int] | None = None, batch: int = 100,
                 total_bytes: Callable[[], int] | None = None):
        self.journal, self.store, self.policy, self.batch = journal, store, policy, batch
        self._free = free_bytes or (lambda: shutil.disk_usage(self._existing_root()).free)
        self._total = total_bytes or (lambda: shutil.disk_usage(self._existing_root()).total)

    def _existing_root(self):
        root = self.store.root
        while not root.exists() and root != root.parent:
            root = root.parent
        return root

    def enforce(self, now: dt.datetime | None = None) -> RetentionReport:
        report = RetentionReport()
        if not self.policy.active:
            return report
        now = now or dt.datetime.now(dt.timezone.utc)
        if self.policy.max_age_days:
            cutoff = now - dt.timedelta(days=self.policy.max_age_days)
            while self._delete(report, Event.best_seen < cutoff, pending=False):
                pass
        if self.policy.max_image_bytes:
            over = self._image_bytes() - self.policy.max_image_bytes
            if over > 0:
                self._free_up(over, report, pending=False)
        short = self._floor_short()
        if short > 0:
            before = report.deleted
            short -= self._free_up(short, report, pending=False)
            if short > 0 and self.policy.delete_unuploaded:
                short -= self._free_up(short, report, pending=True)
            report.deleted_for_floor = report.deleted - before
            report.short_bytes = max(0, short)
        return report

    def floor_bytes(self) -> int:
        """The free space to keep: the larger of the absolute and the relative floor."""
        p = self.policy
        return max(p.min_free_bytes, int(p.min_free_fraction * self._total()) if p.min_free_fraction else 0)

    def _floor_short(self) -> int:
        floor = self.floor_bytes()
        return floor - self._free() if floor else 0

    def _free_up(self, needed: int, report: RetentionReport, pending: bool) -> int:
        """Delete the oldest events until their images add up to ``needed`` bytes."""
        freed = 0
        while freed < needed:
            before = report.freed_bytes
            if not self._delete(report, None, pending, budget=needed - freed):
                break
            freed += report.freed_bytes - before
        return freed

    def _delete(self, report: RetentionReport, condition, pending: bool, budget: int | None = None) -> int:
        """Delete the oldest matching events (at most ``batch``; with a byte
        ``budget``, only as many as free it); returns how many."""
        state = Event.upload_state == PENDING if pending else Event.upload_state != PENDING
        with self.journal._sessions.begin() as s:
            q = select(Event).where(state).order_by(Event.id).limit(self.batch)
            if condition is not None:
                q = q.where(condition)
            rows, total = [], 0
            for row in s.scalars(q):
                rows.append(row)
                total += sum(self.store.size(p) for p in _paths(row))
                if budget is not None and total >= budget:
                    break
            if not rows:
                return 0
            s.execute(delete(Event).where(Event.id.in_([r.id for r in rows])))
            files = [path for r in rows for path in _paths(r)]
        for rel in files:                       # after the commit: rows never point at deleted files
            report.freed_bytes += self.store.size(rel)
            self.store.remove(rel)
        report.deleted += len(rows)
        if pending:
            report.deleted_pending += len(rows)
        return len(rows)

    def _image_bytes(self) -> int:
        if not self.store.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.store.root.rglob('*') if p.is_file())


def policy_from_config(config) -> RetentionPolicy:
    return RetentionPolicy(config.retention_days, int(config.retention_max_gb * GB),
                           int(config.retention_min_free_gb * GB), config.retention_min_free_percent / 100.0,
                           config.retention_delete_unuploaded)
