"""The OCR node's core: crop in, ranked plate text out.

Two readers, one answer. The plate reader (a fixed-slot model trained on
plates, when installed) reads every crop; the general OCR (PP-OCRv4: text
lines found in the crop, and the plate box read as one line) is asked only
when the plate reader is unsure, or when the plate may carry characters the
plate reader cannot emit (a Chinese plate's province character). Then both
reads are merged per character and ranked with the region formats.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lpr_common.plate_text import CN_PROVINCES, fold_label_quirks
from lpr_ocr import base
from lpr_ocr.base import OcrError, PlateText
from lpr_ocr.formats import FormatMatcher
from lpr_ocr.ppocr import PpOcrDetector
from lpr_ocr.preprocess import preprocess
from lpr_ocr.reader import PlateReader, region


def backend_options(config) -> dict:
    """The general recogniser's constructor arguments; only EasyOCR takes languages."""
    options = {'model_path': config.rec_model, 'threads': config.threads}
    if config.backend == 'easyocr':
        options['languages'] = tuple(config.ocr_languages)
    return options


@dataclass(frozen=True)
class ReadTrace:
    """How one read came about (for `lpr eval` and the node's counters)."""
    primary: str | None = None   # the plate reader's own answer (formats applied)
    general: str | None = None   # the general OCR's own answer, when it ran
    fallback: bool = False       # the general OCR ran
    reason: str = ''             # why it ran: unsure, no-read, province (a Chinese plate), only (no plate model)

    @property
    def agree(self) -> bool | None:
        if self.primary is None or self.general is None:
            return None
        return fold_label_quirks(self.primary) == fold_label_quirks(self.general)


def plate_colour(crop: np.ndarray) -> str:
    """'blue' or 'green' for a plate coloured like a Chinese one ('' else):
    a third of it saturated blue (regular plates), a fifth saturated green
    (new-energy plates), or light characters on a bluish background (blue
    plates at night or in haze, where the saturation goes). EU plates' blue
    band covers ~10 % of a plate; their characters are dark on light. Yellow
    plates are left out: EU rear plates are yellow too. Only the inner part
    of the box counts: detector boxes include some of the car around it."""
    if crop is None or crop.ndim != 3 or min(crop.shape[:2]) < 4:
        return ''
    h, w = crop.shape[:2]
    inner = crop[int(h * 0.2):h - int(h * 0.2), int(w * 0.12):w - int(w * 0.12)]
    small = cv2.resize(inner, (64, 16), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    if ((h >= 95) & (h <= 130) & (s >= 90) & (v >= 50)).mean() > 0.3:
        return 'blue'
    if ((h >= 35) & (h <= 90) & (s >= 60) & (v >= 60)).mean() > 0.2:
        return 'green'
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lo, med, hi = np.percentile(gray, (10, 50, 90))
    background = gray <= med
    bluish = float((small[..., 0].astype(np.float32) - small[..., 2])[background].mean())
    if hi - med > 1.5 * (med - lo) and bluish > 5:
        return 'blue'
    return ''


def _trained_recognizer(config):
    """The project's own plate reader (reader: trained): the shipped weights, or
    plate_model when set; a build without them is refused in one line."""
    from lpr_ocr.plate_model import trained_model_path
    path = config.plate_model or str(trained_model_path())
    if not Path(path).is_file():
        raise OcrError(f'reader trained: no weights at {path}; this build has none yet (train and export them '
                       'with tools/train_reader, see its README), or choose another reader')
    return base.create('plate', model_path=path, threads=config.threads, config_path=config.plate_config)


class PlateOcr:
    def __init__(self, matcher: FormatMatcher, general: PlateReader | None = None,
                 primary: PlateReader | None = None, fallback_below: float = 0.7,
                 preprocess: str = 'none', province_by_colour: bool = True):
        if general is None and primary is None:
            raise OcrError('no reader: give a plate model, a general OCR or both')
        self.matcher = matcher
        self.general = general
        self.primary = primary
        self.fallback_below = fallback_below
        self.preprocess = preprocess
        # In 'auto' regions a Chinese province character is taken only on a
        # plate coloured like a Chinese one; with CN named, always.
        self.province_by_colour = province_by_colour
        self.notice = ''   # said once by whoever runs the engine (the node's log, lpr eval)
        alphabet = getattr(primary.recognizer, 'config', None) if primary else None
        self._primary_alphabet = frozenset(alphabet.alphabet) if alphabet else None
        # A plate model whose alphabet has province characters (the project's
        # own reader) may read Chinese plates itself, under the same colour rule.
        self._primary_reads_provinces = bool(self._primary_alphabet and self._primary_alphabet & CN_PROVINCES)

    @classmethod
    def from_config(cls, config) -> 'PlateOcr':
        matcher = FormatMatcher(config.regions, config.top_n)
        primary = general = None
        notice = ''
        explicit_cn = 'auto' not in config.regions and matcher.has_province_layouts
        if config.reader == 'trained':
            return cls(matcher, primary=PlateReader(_trained_recognizer(config), upscale_to=0),
                       preprocess=config.preprocess, province_by_colour=not explicit_cn)
        if config.reader in ('auto', 'chain', 'plate'):
            try:
                recognizer = base.create('plate', model_path=config.plate_model, threads=config.threads,
                                         config_path=config.plate_config)
                primary = PlateReader(recognizer, upscale_to=0)
            except OcrError as exc:
                if config.reader != 'auto' or config.plate_model:
                    raise
                notice = (f'no plate model ({exc}): reading with the general OCR alone, slower and less '
                          'accurate; `lpr models install --reader` (or --from FILE) adds it')
        if config.reader in ('auto', 'chain', 'general'):
            recognizer = base.create(config.backend, **backend_options(config))
            lines = PpOcrDetector(config.det_model, config.threads) if config.line_detection else None
            general = PlateReader(recognizer, lines)
        ocr = cls(matcher, general, primary, config.fallback_below, config.preprocess,
                  province_by_colour=not explicit_cn)
        ocr.notice = notice
        return ocr

    def warm_up(self) -> None:
        """One read of a blank plate-sized crop through every reader (the first
        inference allocates and tunes; it should not fall on the first car)."""
        crop = np.full((60, 240, 3), 200, np.uint8)
        for reader in (self.primary, self.general):
            if reader is not None:
                reader.read_whole(crop)
        if self.general is not None and self.general.line_detector is not None:
            self.general.read(crop)

    @property
    def name(self) -> str:
        names = [r.recognizer.name for r in (self.primary, self.general) if r is not None]
        return '+'.join(names)

    def read(self, crop: np.ndarray, plate_box=None) -> PlateText:
        return self.read_traced(crop, plate_box)[0]

    def read_traced(self, crop: np.ndarray, plate_box=None) -> tuple[PlateText, ReadTrace]:
        crop = preprocess(crop, self.preprocess)
        province = self._province_allowed(crop, plate_box)
        if self.primary is None or (province and self.general is not None):
            # Chinese plates: the plate reader has no province glyphs and reads
            # them at 0 % (docs/accuracy.md); the general OCR reads them alone.
            reason = 'only' if self.primary is None else 'province'
            result = self.matcher.rank(*self._general_views(crop, plate_box), province=province)
            return result, ReadTrace(general=result.text, fallback=self.primary is not None, reason=reason)
        first = self.primary.read_whole(crop, plate_box)
        reason = self._doubt(first) if self.general is not None else ''
        if not reason:
            result = self.matcher.rank(first, province=province and self._primary_reads_provinces)
            return result, ReadTrace(primary=result.text)
        alone = self.matcher.rank(first, province=False, learn=False)
        views = self._general_views(crop, plate_box)
        general_alone = self.matcher.rank(*views, province=False, learn=False)
        result = self.matcher.fuse(first, views, self._primary_alphabet, province=False)
        return result, ReadTrace(alone.text, general_alone.text, True, reason)

    def read_each(self, crop: np.ndarray, plate_box=None) -> dict[str, str]:
        """Each reader's own answer (formats applied, nothing learned): for `lpr eval`."""
        crop = preprocess(crop, self.preprocess)
        province = self._province_allowed(crop, plate_box)
        out = {}
        if self.primary is not None:
            out['plate'] = self.matcher.rank(self.primary.read_whole(crop, plate_box),
                                             province=province and self._primary_reads_provinces, learn=False).text
        if self.general is not None:
            out['general'] = self.matcher.rank(*self._general_views(crop, plate_box), province=province,
                                               learn=False).text
        return out

    # -- steps ---------------------------------------------------------------
    def _doubt(self, first: PlateText) -> str:
        """Why the general OCR should look too ('' = no need)."""
        if not first.text:
            return 'no-read'
        weakest = min((ln.weakest for ln in first.lines if ln.weakest is not None), default=first.confidence)
        return 'unsure' if weakest < self.fallback_below else ''

    def _province_allowed(self, crop: np.ndarray, plate_box) -> bool:
        if not self.matcher.has_province_layouts:
            return False
        if not self.province_by_colour:
            return True
        return bool(plate_colour(region(crop, plate_box)))

    def _general_views(self, crop, plate_box) -> tuple[PlateText, PlateText]:
        return self.general.read(crop, plate_box), self.general.read_whole(crop, plate_box)

    def close(self) -> None:
        for reader in (self.primary, self.general):
            if reader is not None:
                reader.recognizer.close()

