"""Recorder node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lpr_common.config import check, param


@dataclass(frozen=True)
class RecorderConfig:
    db_url: str = param('', 'journal database URL; empty = sqlite:///<data dir>/journal.sqlite')
    image_dir: str = param('', 'where event images go; empty = <data dir>/images')
    site_id: str = param('', 'site / checkpoint id written into every event')
    gps: list[float] = param([], 'camera position [latitude, longitude] written into every event; empty = none')
    gap_s: float = param(2.0, 'a pass ends after this many seconds without a matching read')
    min_reads: int = param(2, 'passes with fewer reads emit nothing (noise)')
    min_confidence: float = param(0.5, 'reads below this confidence are ignored')
    min_length: int = param(4, 'reads shorter than this are ignored')
    match_distance: int = param(1, "characters (glyph twins folded) a read's text may differ from an open pass's "
                                   'and still fit it')
    preview_reads: int = param(3, 'agreeing reads that trigger a preview event (0 = never)')
    preview_timeout_s: float = param(0.0, 'no preview yet this long after the first read: preview if 2 reads agree (0 = wait for preview_reads)')
    repeat_window_s: float = param(10.0, 'the same plate within this many seconds of its pass rejoins it')
    max_pass_s: float = param(300.0, 'force-close a pass open this long')
    save_frame: bool = param(True, 'store the full frame of the best read')
    save_plate: bool = param(True, 'store the plate crop of the best read')
    save_processed: bool = param(True, 'store a processed plate crop (grey, contrast-equalised, upscaled)')
    jpeg_quality: int = param(92, 'JPEG quality of stored crops, 1..100')
    retention_days: float = param(0.0, 'delete uploaded events older than this many days (0 = keep)')
    retention_max_gb: float = param(0.0, 'keep event images under this many GB, oldest uploaded go first (0 = no quota)')
    retention_min_free_percent: float = param(5.0, 'keep at least this share of the partition free, oldest uploaded '
                                                   'events go first (0 = no relative floor)')
    retention_min_free_gb: float = param(0.0, 'keep at least this many GB free, whichever floor is larger (0 = none)')
    retention_delete_unuploaded: bool = param(False, 'let the free-space floor delete events not yet uploaded '
                                                     '(else they stay and the node reports an error)')
    retention_period_s: float = param(600.0, 'how often retention runs')
    queue_size: int = param(256, 'decided events waiting in memory while writes fail; further ones are spooled '
                                 'to spool_dir (and dropped, counted, only when that fails too)')
    spool_dir: str = param('', 'where decided events wait on disk while the journal or image store refuses '
                               'writes; empty = <data dir>/spool')

    def validate(self) -> None:
        check(self.gps == [] or (len(self.gps) == 2 and -90 <= self.gps[0] <= 90 and -180 <= self.gps[1] <= 180),
              f'gps must be [latitude, longitude] in degrees, got {self.gps}')
        check(self.gap_s > 0, 'gap_s must be > 0')
        check(self.min_reads >= 1, 'min_reads must be >= 1')
        check(0.0 <= self.min_confidence < 1.0, 'min_confidence must be in [0, 1)')
        check(self.match_distance >= 0, 'match_distance must be >= 0')
        check(self.preview_reads >= 0, 'preview_reads must be >= 0')
        check(self.preview_timeout_s >= 0, 'preview_timeout_s must be >= 0')
        check(self.repeat_window_s >= 0, 'repeat_window_s must be >= 0')
        check(self.max_pass_s > self.gap_s, 'max_pass_s must be larger than gap_s')
        check(1 <= self.jpeg_quality <= 100, 'jpeg_quality must be in 1..100')
        check(self.queue_size >= 1, 'queue_size must be >= 1')
        check(0.0 <= self.retention_min_free_percent < 100.0, 'retention_min_free_percent must be in 0..100')
        check(min(self.retention_days, self.retention_max_gb, self.retention_min_free_gb) >= 0,
              'retention limits must be >= 0')
        check(self.retention_period_s > 0, 'retention_period_s must be > 0')

    def pass_config(self):
        from lpr_recorder.passes import PassConfig
        names = [f.name for f in dataclasses.fields(PassConfig) if hasattr(self, f.name)]
        return PassConfig(**{name: getattr(self, name) for name in names})
