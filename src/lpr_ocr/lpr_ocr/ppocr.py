"""PP-OCRv4 text detection and recognition on ONNX Runtime.

The models ship inside the ``rapidocr-onnxruntime`` wheel. Detection (DB
with its post-processing) is RapidOCR's own ``TextDetector``; recognition
runs the CTC model here, because the plate reader needs what RapidOCR's
pipeline throws away: a confidence per character and the runner-up
characters, for voting and for format-aware candidates.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from lpr_common.onnx import open_session
from lpr_ocr.base import LineRecognizer, OcrError, TextLine, register

REC_HEIGHT = 48
REC_MIN_WIDTH = 320


def rapidocr_model_dir() -> Path:
    spec = importlib.util.find_spec('rapidocr_onnxruntime')
    if spec is None or not spec.submodule_search_locations:
        raise OcrError('rapidocr-onnxruntime is not installed (it ships the PP-OCR models)')
    return Path(spec.submodule_search_locations[0]) / 'models'


def default_model(kind: str) -> Path:
    names = {'det': 'ch_PP-OCRv4_det_infer.onnx', 'rec': 'ch_PP-OCRv4_rec_infer.onnx'}
    return rapidocr_model_dir() / names[kind]


def _session(path: Path, threads: int):
    if not path.is_file():
        raise OcrError(f'OCR model not found: {path}')
    return open_session(path, threads, OcrError)


@register('ppocr')
class PpOcrRecognizer(LineRecognizer):
    """CTC recogniser: greedy decoding with per-character probabilities."""

    def __init__(self, model_path: str = '', threads: int = 0, alternatives: int = 3):
        path = Path(model_path) if model_path else default_model('rec')
        self._session = _session(path, threads)
        chars = self._session.get_modelmeta().custom_metadata_map.get('character')
        if not chars:
            raise OcrError(f'{path}: no character dictionary in the model metadata')
        # index 0 is the CTC blank; the dictionary follows; a space closes it.
        self._charset = ['<blank>'] + chars.splitlines() + [' ']
        self._input = self._session.get_inputs()[0].name
        self._alternatives = alternatives
        self.name = f'ppocr:{path.stem}'

    def recognize(self, line: np.ndarray) -> TextLine:
        probs = self._session.run(None, {self._input: self._blob(line)})[0][0]  # T x C
        return self._decode(probs, line.shape)

    @staticmethod
    def _blob(line: np.ndarray) -> np.ndarray:
        if line.ndim == 2:
            line = cv2.cvtColor(line, cv2.COLOR_GRAY2BGR)
        h, w = line.shape[:2]
        width = max(1, int(round(REC_HEIGHT * w / max(h, 1))))
        resized = cv2.resize(line, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((REC_HEIGHT, max(width, REC_MIN_WIDTH), 3), np.float32)
        canvas[:, :width] = resized.astype(np.float32) / 127.5 - 1.0
        return canvas.transpose(2, 0, 1)[None]

    def _decode(self, probs: np.ndarray, shape) -> TextLine:
        best = probs.argmax(1)
        chars, confs, alts = [], [], []
        previous = 0
        for t, index in enumerate(best):
            if index != 0 and index != previous:
                chars.append(self._charset[index])
                confs.append(float(probs[t, index]))
                alts.append(self._runner_ups(probs[t], index))
            previous = index
        h, w = shape[:2]
        return TextLine(''.join(chars), tuple(confs), (0.0, 0.0, float(w), float(h)), tuple(alts))

    def _runner_ups(self, p: np.ndarray, best: int) -> tuple[tuple[str, float], ...]:
        if self._alternatives <= 0:
            return ()
        top = np.argpartition(p, -(self._alternatives + 1))[-(self._alternatives + 1):]
        top = top[np.argsort(p[top])[::-1]]
        return tuple((self._charset[i], float(p[i])) for i in top if i not in (best, 0))[:self._alternatives]


class PpOcrDetector:
    """Text-line boxes (quadrilaterals) in a plate crop, via RapidOCR's DB detector."""

    def __init__(self, model_path: str = '', threads: int = 0, limit_side_len: int = 320,
                 box_thresh: float = 0.5, unclip_ratio: float = 1.6):
        try:
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        except ImportError as exc:
            raise OcrError(f'rapidocr-onnxruntime is not installed: {exc}') from None
        path = Path(model_path) if model_path else default_model('det')
        if not path.is_file():
            raise OcrError(f'OCR model not found: {path}')
        self._det = TextDetector({
            'model_path': str(path), 'use_cuda': False, 'use_dml': False,
            'intra_op_num_threads': threads if threads > 0 else -1,
            'inter_op_num_threads': 1 if threads > 0 else -1,
            'limit_side_len': limit_side_len, 'limit_type': 'min',
            'mean': [0.5, 0.5, 0.5], 'std': [0.5, 0.5, 0.5],
            'thresh': 0.3, 'box_thresh': box_thresh, 'max_candidates': 50,
            'unclip_ratio': unclip_ratio, 'use_dilation': True, 'score_mode': 'fast',
        })

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """4x2 float32 corner arrays (tl, tr, br, bl)."""
        boxes, _ = self._det(image)
        if boxes is None:
            return []
        return [np.asarray(b, np.float32).reshape(4, 2) for b in boxes]
