"""OCR node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param
from lpr_ocr.formats import ALL_REGIONS, GROUPS
from lpr_ocr.preprocess import MODES


@dataclass(frozen=True)
class OcrConfig:
    backend: str = param('ppocr', "text recogniser: 'ppocr' (PP-OCRv4 on ONNX Runtime)")
    rec_model: str = param('', 'recognition model; empty = the PP-OCRv4 model shipped with rapidocr-onnxruntime')
    det_model: str = param('', 'text-line detection model; empty = the PP-OCRv4 one shipped with rapidocr-onnxruntime')
    line_detection: bool = param(True, 'find text lines inside the crop before reading (needed for plates with extra text)')
    threads: int = param(1, 'inference threads (0 = runtime default)')
    regions: list[str] = param(['auto'], "allowed plate regions: 'auto' or any of "
                                         f"{', '.join(ALL_REGIONS + tuple(GROUPS))}")
    top_n: int = param(5, 'candidates kept per read')
    preprocess: str = param('none', "crop preprocessing before reading: none, gray, clahe or threshold")
    queue_size: int = param(2, 'detection messages waiting for OCR before the oldest is dropped (fresh reads beat a backlog)')
    ocr_languages: list[str] = param(['en'], "backend 'easyocr' only (optional; its .pth weights copied by hand into "
                                             "the rec_model folder, empty = ~/.EasyOCR/model): EasyOCR language codes, "
                                             'e.g. [en], [th, en], [ru, en]')

    def validate(self) -> None:
        check(self.threads >= 0, 'threads must be >= 0')
        check(self.top_n >= 1, 'top_n must be >= 1')
        check(self.queue_size >= 1, 'queue_size must be >= 1')
        check(bool(self.ocr_languages), 'ocr_languages must name at least one language')
        check(self.preprocess in MODES, f'preprocess must be one of {", ".join(MODES)}')
        known = ALL_REGIONS + tuple(GROUPS)
        bad = [r for r in self.regions if r != 'auto' and r.upper() not in known]
        check(not bad, f'unknown region(s) {", ".join(bad)}; known: auto, {", ".join(known)}')
