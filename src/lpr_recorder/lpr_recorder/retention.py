"""Retention: delete the oldest events and their images by age, by an image
quota and by a free-space floor. Events not yet uploaded are kept, unless
the disk would otherwise fill: then the oldest of them go too, and the report
says so loudly. Rows are deleted before their images (a crash in between
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
    min_free_bytes: int = 0      # 0 = no floor

    @property
    def active(self) -> bool:
        return bool(self.max_age_days or self.max_image_bytes or self.min_free_bytes)


@dataclass
class RetentionReport:
    deleted: int = 0
    deleted_pending: int = 0      # not yet uploaded, deleted because the disk would fill
    freed_bytes: int = 0
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f'retention: deleted {self.deleted} event(s), freed {self.freed_bytes / 1e6:.1f} MB'
        if self.deleted_pending:
            text += (f'; DISK FULL: deleted {self.deleted_pending} event(s) NOT YET UPLOADED '
                     f'to keep the disk from filling')
        return text


def _paths(row) -> list[str]:
    return [p for p in (row.frame_path, row.plate_path, row.processed_path, row.vehicle_path) if p]


class Retention:
    def __init__(self, journal: Journal, store: ImageStore, policy: RetentionPolicy,
                 free_bytes: Callable[[], int] | None = None, batch: int = 100):
        self.journal, self.store, self.policy, self.batch = journal, store, policy, batch
        self._free = free_bytes or (lambda: shutil.disk_usage(self.store.root).free)

    def enforce(self, now: dt.datetime | None = None) -> RetentionReport:
        report = RetentionReport()
        if not self.policy.active:
            return report
        now = now or dt.datetime.now(dt.timezone.utc)
        if self.policy.max_age_days:
            cutoff = now - dt.timedelta(days=self.policy.max_age_days)
            while self._delete(report, Event.best_seen < cutoff, pending=False):
                pass
        needed = self._needed()
        if needed > 0:
            needed -= self._free_up(needed, report, pending=False)
        if needed > 0:
            self._free_up(needed, report, pending=True)   # or the disk fills: said loudly
        return report

    def _needed(self) -> int:
        """Bytes to free for the quota and the free-space floor."""
        p = self.policy
        needed = 0
        if p.max_image_bytes:
            needed = max(needed, self._image_bytes() - p.max_image_bytes)
        if p.min_free_bytes:
            needed = max(needed, p.min_free_bytes - self._free())
        return needed

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
                           int(config.retention_min_free_gb * GB))
