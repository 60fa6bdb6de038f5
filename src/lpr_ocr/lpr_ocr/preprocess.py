"""Optional crop preprocessing before reading (the seed's grayscale, contrast
and adaptive threshold). Off by default. Measured with `lpr eval`
(docs/accuracy.md): gray is within noise (one image better on each set),
CLAHE and adaptive threshold make the PP-OCR models (trained on natural
colour images) read worse."""
from __future__ import annotations

import cv2
import numpy as np

MODES = ('none', 'gray', 'clahe', 'threshold')


def preprocess(crop: np.ndarray, mode: str) -> np.ndarray:
    """Return a BGR image (the recogniser expects three channels)."""
    if mode == 'none' or crop is None or crop.size == 0:
        return crop
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if mode == 'clahe':
        gray = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(gray)
    elif mode == 'threshold':
        block = max(11, (min(gray.shape[:2]) // 4) | 1)
        gray = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 9)
    elif mode != 'gray':
        raise ValueError(f'unknown preprocess mode {mode!r} (known: {", ".join(MODES)})')
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
