"""OCR node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param
from lpr_ocr.engine_names import READER_HELP, READERS
from lpr_common.plate_text import ALL_REGIONS, GROUPS
from lpr_ocr.preprocess import MODES


@dataclass(frozen=True)
class OcrConfig:
    reader: str = param('auto', READER_HELP)
    plate_model: str = param('', 'fixed-slot plate model (fast-plate-ocr format); empty = cct_xs_v1_global.onnx '
                                 'in the model cache (`lpr models install`)')
    plate_config: str = param('', "the plate model's plate config YAML; empty = <model>_plate_config.yaml beside "
                                  'it, or built in for known models')
    fallback_below: float = param(0.7, "the general OCR checks the plate model's read when its least sure "
                                       'character slot is below this (0..1; measured in docs/accuracy.md)')
    backend: str = param('ppocr', "general text recogniser: 'ppocr' (PP-OCRv4 on ONNX Runtime) or 'easyocr'")
    rec_model: str = param('', 'general recognition model; empty = the PP-OCRv4 model shipped with rapidocr-onnxruntime')
    det_model: str = param('', 'text-line detection model; empty = the PP-OCRv4 one shipped with rapidocr-onnxruntime')
    line_detection: bool = param(True, 'find text lines inside the crop before reading (needed for plates with extra text)')
    threads: int = param(1, 'inference threads (0 = runtime default)')
    regions: list[str] = param(['auto'], "allowed plate regions: 'auto' or any of "
                                         f"{', '.join(ALL_REGIONS + tuple(GROUPS))}")
    top_n: int = param(5, 'candidates kept per read')
    preprocess: str = param('none', "crop preprocessing before reading: none, gray, clahe or threshold")
    queue_size: int = param(2, 'detection messages waiting for OCR per camera before the oldest is dropped (fresh reads '
                                'beat a backlog)')
    ocr_languages: list[str] = param(['en'], "backend 'easyocr' only (optional; its .pth weights copied by hand into "
                                             "the rec_model folder, empty = ~/.EasyOCR/model): EasyOCR language codes, "
                                             'e.g. [en], [th, en], [ru, en]')

    def validate(self) -> None:
        check(self.threads >= 0, 'threads must be >= 0')
        check(self.reader in READERS, f'reader must be one of {", ".join(READERS)}, got {self.reader!r}')
        check(0.0 <= self.fallback_below <= 1.0, f'fallback_below must be in 0..1, got {self.fallback_below}')
        check(self.top_n >= 1, 'top_n must be >= 1')
        check(self.queue_size >= 1, 'queue_size must be >= 1')
        check(bool(self.ocr_languages), 'ocr_languages must name at least one language')
        check(self.preprocess in MODES, f'preprocess must be one of {", ".join(MODES)}')
        known = ALL_REGIONS + tuple(GROUPS)
        bad = [r for r in self.regions if r != 'auto' and r.upper() not in known]
        check(not bad, f'unknown region(s) {", ".join(bad)}; known: auto, {", ".join(known)}')
