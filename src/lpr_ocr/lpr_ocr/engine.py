"""The OCR node's core: crop in, ranked plate text out."""
from __future__ import annotations

import numpy as np

from lpr_ocr import base
from lpr_ocr.base import PlateText
from lpr_ocr.formats import FormatMatcher
from lpr_ocr.ppocr import PpOcrDetector
from lpr_ocr.preprocess import preprocess
from lpr_ocr.reader import PlateReader


def backend_options(config) -> dict:
    """The recogniser's constructor arguments; only EasyOCR takes languages."""
    options = {'model_path': config.rec_model, 'threads': config.threads}
    if config.backend == 'easyocr':
        options['languages'] = tuple(config.ocr_languages)
    return options


class PlateOcr:
    def __init__(self, reader: PlateReader, matcher: FormatMatcher, preprocess: str = 'none'):
        self.reader = reader
        self.matcher = matcher
        self.preprocess = preprocess

    @classmethod
    def from_config(cls, config) -> 'PlateOcr':
        recognizer = base.create(config.backend, **backend_options(config))
        lines = PpOcrDetector(config.det_model, config.threads) if config.line_detection else None
        return cls(PlateReader(recognizer, lines), FormatMatcher(config.regions, config.top_n),
                   config.preprocess)

    @property
    def name(self) -> str:
        return self.reader.recognizer.name

    def read(self, crop: np.ndarray, plate_box=None) -> PlateText:
        """Two views of the plate, ranked together: the text lines found in the
        crop, and the plate box read as one line."""
        crop = preprocess(crop, self.preprocess)
        return self.matcher.rank(self.reader.read(crop, plate_box), self.reader.read_whole(crop, plate_box))

    def close(self) -> None:
        self.reader.recognizer.close()
