"""From a plate crop to plate text: find the text lines, pick the plate's
characters among them, recognise, normalise."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lpr_common.plate_text import normalise_char
from lpr_ocr.base import Candidate, LineRecognizer, PlateText, TextLine

# Characters that separate groups on plates and are not part of the number.


@dataclass(frozen=True)
class LineSelection:
    """How text lines found in a crop become the plate's text."""
    same_row_height: float = 0.7   # a line this tall relative to the tallest, on the same row, joins it
    min_line_height: int = 8       # pixels; smaller boxes are screws and dirt
    two_rows: bool = True          # square plates: a second row as tall as the first is read after it


class PlateReader:
    def __init__(self, recognizer: LineRecognizer, line_detector=None,
                 selection: LineSelection = LineSelection(), upscale_to: int = 48):
        self.recognizer = recognizer
        self.line_detector = line_detector
        self.selection = selection
        self.upscale_to = upscale_to

    def read(self, crop: np.ndarray, plate_box: tuple[float, float, float, float] | None = None) -> PlateText:
        """Read the text lines found in a crop; ``plate_box`` (x, y, w, h in the
        crop) narrows the search."""
        if not _usable(crop):
            return PlateText.empty()
        crop, factor = self._upscale(crop)
        if plate_box is not None:
            plate_box = tuple(v * factor for v in plate_box)
        lines = self._lines(crop, plate_box)
        reads = [self.recognizer.recognize(image) for image in lines]
        return self._combine(reads)

    def read_whole(self, crop: np.ndarray, plate_box=None, margin: tuple[float, float] = (0.04, 0.08)) -> PlateText:
        """Read the plate box (or the whole crop) as one line, without line
        detection: best for tight single-line crops, where line detection can
        cut characters off."""
        if not _usable(crop):
            return PlateText.empty()
        if plate_box is not None:
            x, y, w, h = plate_box
            mx, my = w * margin[0], h * margin[1]
            crop = region(crop, (x - mx, y - my, w + 2 * mx, h + 2 * my))
        return self._combine([self.recognizer.recognize(self._upscale(crop)[0])])

    # -- steps ---------------------------------------------------------------
    def _upscale(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h = image.shape[0]
        if h >= self.upscale_to:
            return image, 1.0
        f = self.upscale_to / h
        return cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC), f

    def _lines(self, crop: np.ndarray, plate_box) -> list[np.ndarray]:
        quads = self.line_detector.detect(crop) if self.line_detector is not None else []
        if plate_box is not None:
            quads = [q for q in quads if _centre_inside(q, plate_box)]
        quads = [q for q in quads if _quad_height(q) >= self.selection.min_line_height]
        if not quads:
            return [region(crop, plate_box)]
        return [_rectify(crop, q) for q in self._plate_lines(quads)]

    def _plate_lines(self, quads: list[np.ndarray]) -> list[np.ndarray]:
        """The plate's characters: the row of the tallest line (lines of similar
        height beside it join, left to right: RU region numbers, EU bands), and
        on square plates a second row of similar height above or below it (top
        row first). Smaller lines (US state names, slogans, dealer frames) stay out."""
        tallest = max(quads, key=_quad_height)
        limit = self.selection.same_row_height * _quad_height(tallest)
        tall = [q for q in quads if _quad_height(q) >= limit]
        main = _row_of(tallest, tall)
        rows = [main]
        if self.selection.two_rows:
            others = [q for q in tall if not any(q is m for m in main)]
            stacked = [q for q in others if _overlap_x(q, main) > 0.5]
            if stacked:
                second = _row_of(max(stacked, key=_quad_height), stacked)
                rows.append(second)
                rows.sort(key=lambda r: min(q[:, 1].mean() for q in r))
        return [q for row in rows for q in sorted(row, key=lambda q: q[:, 0].min())]

    @staticmethod
    def _combine(reads: list[TextLine]) -> PlateText:
        raw = ' '.join(r.text for r in reads)
        chars, confs = [], []
        for r in reads:
            for ch, conf in zip(r.text, r.char_confidences):
                ch = normalise_char(ch)
                if ch:
                    chars.append(ch)
                    confs.append(conf)
        text = ''.join(chars)
        if not text:
            return PlateText.empty(raw)
        confidence = float(np.mean(confs))
        return PlateText(text, confidence, tuple(confs), raw,
                         candidates=(Candidate(text, confidence),), lines=tuple(reads))


def _usable(crop) -> bool:
    return crop is not None and crop.size > 0 and min(crop.shape[:2]) >= 4




def _row_of(anchor: np.ndarray, quads: list[np.ndarray]) -> list[np.ndarray]:
    """The quads whose vertical centre lies within the anchor's height."""
    top, bottom = anchor[:, 1].min(), anchor[:, 1].max()
    return [q for q in quads if top <= q[:, 1].mean() <= bottom]


def _overlap_x(q: np.ndarray, row: list[np.ndarray]) -> float:
    """How much of q's width lies under/over the row's horizontal extent."""
    x0, x1 = q[:, 0].min(), q[:, 0].max()
    r0, r1 = min(r[:, 0].min() for r in row), max(r[:, 0].max() for r in row)
    return max(0.0, min(x1, r1) - max(x0, r0)) / max(x1 - x0, 1e-6)


def _quad_height(q: np.ndarray) -> float:
    return float((np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2)


def _centre_inside(q: np.ndarray, box) -> bool:
    x, y, w, h = box
    cx, cy = q[:, 0].mean(), q[:, 1].mean()
    return x <= cx <= x + w and y <= cy <= y + h


def region(image: np.ndarray, box) -> np.ndarray:
    """The part of ``image`` inside ``box`` (x, y, w, h), clipped to it; the
    whole image when ``box`` is None or the part would be under 4 px."""
    if box is None:
        return image
    x, y, w, h = (int(round(v)) for v in box)
    H, W = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    return image[y0:y1, x0:x1] if x1 - x0 >= 4 and y1 - y0 >= 4 else image


def _rectify(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp a (tl, tr, br, bl) quadrilateral to an upright rectangle."""
    w = int(round(max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))))
    h = int(round(max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]))))
    w, h = max(w, 4), max(h, 4)
    target = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
