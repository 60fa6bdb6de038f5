"""Synthetic street scene: cars that carry licence plates with known text.

The embedded default source of the demo, so the whole graph runs without a camera, and a
ground truth for tests and evaluation: every frame comes with the text, format and pixel box
of each plate in view.

A scene is a pure function of its :class:`SceneConfig`: ``frame(i)`` and ``truth(i)`` can be
asked for any index in any order and always give the same answer for the same seed. Cars
cross the frame from left to right one at a time, seen from behind, with a gap between them;
after the last car the scene repeats (``num_frames`` is the length of one pass).

Plate formats (names are the region codes of ``lpr_ocr.formats``):

======  ==============  ===================================================================
format  text            look
======  ==============  ===================================================================
UK      ``AB12CDE``     yellow (rear) or white (front), ``AB12 CDE``, optional UK band
SK      ``BA123XY``     white, blue EU band ``SK``, small coat of arms after the district
DE      ``MAB123``      white, blue EU band ``D``, two round seals after the district
KZ      ``123ABC02``    white, flag and ``KZ`` on the left, region ``02`` behind a bar
RU      ``A123BC77``    white, letters smaller than digits, region box with ``RUS``
US      ``ABC1234``     2:1 plate, state name in small letters above the number
BR      ``ABC1D23``     Mercosur: white with a blue ``BRASIL`` band on top
======  ==============  ===================================================================

Generated texts avoid the letters I, O and Q (and O on RU plates), which most real series
avoid too, so that an exact read is well defined.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from lpr_common.plate_text import FORMATS as PLATE_LAYOUTS
from lpr_common.plate_text import PlateFormat, compact, to_latin

FORMATS = ('UK', 'SK', 'DE', 'KZ', 'RU', 'US', 'BR')

_LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ'   # no I, O, Q
_RU_LETTERS = 'ABEKMHPCTYX'            # Cyrillic letters that look Latin, without O
_DIGITS = '0123456789'
_SK_DISTRICTS = ('BA', 'BL', 'BB', 'KE', 'NR', 'PB', 'TT', 'TN', 'ZA', 'PP', 'LM', 'MT')
_DE_DISTRICTS = ('B', 'M', 'HH', 'K', 'F', 'S', 'DU', 'KA', 'HD', 'LEV', 'BN', 'WES')
_US_STATES = ('CALIFORNIA', 'TEXAS', 'FLORIDA', 'OHIO', 'NEVADA', 'ARIZONA', 'GEORGIA',
              'NEW JERSEY', 'VIRGINIA', 'OREGON')

# BGR colours
_BLACK = (20, 20, 20)
_WHITE = (242, 244, 244)
_UK_YELLOW = (20, 205, 248)
_EU_BLUE = (153, 51, 0)
_STAR_YELLOW = (0, 204, 255)
_US_BLUE = (110, 40, 25)
_CAR_COLOURS = ((235, 235, 235), (192, 192, 190), (40, 40, 42), (120, 50, 20), (40, 40, 170),
                (95, 95, 95), (60, 90, 40), (35, 35, 110), (30, 110, 200), (130, 110, 100))


_HOLDER_GREY = (90, 90, 90)
# One-line plates: width / height, and cap height / plate height. Real EU plates are 4.7 and
# 0.68; slightly taller plates with smaller characters are boxed more tightly by the detector.
_EU_ASPECT = 4.5
_EU_CAP = 0.64


class SceneError(ValueError):
    """A scene configuration that cannot be rendered."""


@dataclass(frozen=True)
class SceneConfig:
    """What the synthetic scene shows.

    ``cars`` lists the plates in order of appearance; an entry is ``"TEXT"`` (format told by
    the text's pattern), ``"FMT:TEXT"`` with a format of :data:`FORMATS`, and may keep its
    display spaces (``"DE:M AB 123"``). ``None`` draws ``car_count`` random plates, cycling
    through ``formats``.
    """

    width: int = 1280
    height: int = 720
    fps: float = 15.0
    seed: int = 0
    cars: tuple[str, ...] | None = None
    car_count: int = 14
    formats: tuple[str, ...] = FORMATS
    speed: float = 320.0   # px/s, left to right
    gap_s: float = 1.0     # empty road between one car leaving and the next entering
    noise: float = 3.0     # standard deviation of the per-pixel noise, grey levels
    stops: tuple[tuple[int, float], ...] = ()  # (car index, seconds): stop-and-go at mid-frame
    far_lane: tuple[int, ...] = ()   # car indices that come the other way in the far lane, beside the car before

    def __post_init__(self) -> None:
        if self.cars is not None:
            object.__setattr__(self, 'cars', tuple(self.cars))
        object.__setattr__(self, 'formats', tuple(f.upper() for f in self.formats))
        problems = [msg for bad, msg in (
            (self.width < 320 or self.height < 240, 'frame must be at least 320x240'),
            (self.fps <= 0, 'fps must be > 0'),
            (self.speed <= 0, 'speed must be > 0'),
            (self.gap_s < 0, 'gap_s must be >= 0'),
            (self.noise < 0, 'noise must be >= 0'),
            (any(len(stop) != 2 or stop[1] < 0 for stop in self.stops), 'stops are (car index, seconds >= 0)'),
            (self.cars is None and self.car_count < 1, 'car_count must be >= 1'),
            (any(i < 1 for i in self.far_lane), 'far_lane holds car indices >= 1 (beside the car before)'),
            (self.cars is not None and not self.cars, 'cars must not be empty'),
            (not self.formats, 'formats must not be empty'),
        ) if bad]
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            problems.append(f'unknown format(s) {", ".join(unknown)} (known: {", ".join(FORMATS)})')
        if problems:
            raise SceneError('bad scene config: ' + '; '.join(problems))


@dataclass(frozen=True)
class PlateTruth:
    """Where a plate is drawn in one frame. ``box`` is (x, y, w, h), clipped to the frame."""

    text: str
    format: str
    box: tuple[int, int, int, int]
    car_id: int
    fully_visible: bool


# ---------------------------------------------------------------------------------------------
# Text rendering
# ---------------------------------------------------------------------------------------------

class _TextRenderer:
    """Renders text as a grey ink mask cropped to the ink width and to the cap height.

    Uses OpenCV 5's embedded variable font (``cv2.FontFace('sans')``, semibold) when it
    exists, else Pillow's scalable built-in font, else a thick Hershey font. Every mask spans
    exactly cap top to baseline, so masks of different strings scale consistently.
    """

    _SIZE = 120
    _WEIGHT = 600

    def __init__(self) -> None:
        self._draw = self._pick_backend()
        probe = self._draw('H')
        rows = np.flatnonzero(probe.max(axis=1) > 127)
        self._top, self._bottom = int(rows[0]), int(rows[-1]) + 1

    def mask(self, text: str) -> np.ndarray:
        canvas = self._draw(text)[self._top:self._bottom]
        cols = np.flatnonzero(canvas.max(axis=0) > 0)
        if cols.size == 0:
            return np.zeros((self._bottom - self._top, 1), np.uint8)
        return np.ascontiguousarray(canvas[:, cols[0]:cols[-1] + 1])

    def _pick_backend(self) -> Callable[[str], np.ndarray]:
        if hasattr(cv2, 'FontFace'):
            face = cv2.FontFace('sans')
            if face.getName():
                return lambda text: self._draw_cv2(face, text)
        try:
            from PIL import ImageFont
            font = ImageFont.load_default(size=self._SIZE)
            if hasattr(font, 'getbbox') and font.getbbox('H')[3] > self._SIZE // 2:
                return lambda text: self._draw_pil(font, text)
        except (ImportError, TypeError):
            pass
        return self._draw_hershey

    def _canvas(self, text: str) -> np.ndarray:
        return np.zeros((2 * self._SIZE, self._SIZE * (len(text) + 2)), np.uint8)

    def _draw_cv2(self, face, text: str) -> np.ndarray:
        canvas = self._canvas(text)
        cv2.putText(canvas, text, (self._SIZE // 2, int(self._SIZE * 1.5)), 255, face,
                    self._SIZE, self._WEIGHT)
        return canvas

    def _draw_pil(self, font, text: str) -> np.ndarray:
        from PIL import Image, ImageDraw
        image = Image.new('L', (self._SIZE * (len(text) + 2), 2 * self._SIZE), 0)
        ImageDraw.Draw(image).text((self._SIZE // 2, self._SIZE // 4), text, fill=255,
                                   font=font, stroke_width=self._SIZE // 24, stroke_fill=255)
        return np.asarray(image)

    def _draw_hershey(self, text: str) -> np.ndarray:
        canvas = self._canvas(text)
        cv2.putText(canvas, text, (self._SIZE // 2, int(self._SIZE * 1.5)),
                    cv2.FONT_HERSHEY_DUPLEX, self._SIZE / 30, 255, self._SIZE // 12, cv2.LINE_AA)
        return canvas


def _paint_mask(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, w: int, h: int,
                colour: tuple[int, int, int]) -> None:
    """Blend ``colour`` into ``canvas`` through ``mask`` resized to the box (x, y, w, h)."""
    w, h = max(1, w), max(1, h)
    shrink = w < mask.shape[1] or h < mask.shape[0]
    alpha = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    alpha = (alpha.astype(np.float32) / 255.0)[..., None]
    region = canvas[y:y + h, x:x + w]
    alpha = alpha[:region.shape[0], :region.shape[1]]
    blended = region * (1.0 - alpha) + np.array(colour, np.float32) * alpha
    canvas[y:y + h, x:x + w] = blended.astype(np.uint8)


@dataclass(frozen=True)
class _Gap:
    """Empty room in a text line, in cap heights; its box is handed to ``draw``."""

    width: float
    draw: Callable[[np.ndarray, tuple[int, int, int, int]], None] | None = None


def _draw_line(canvas: np.ndarray, fonts: _TextRenderer, parts: list[str | _Gap],
               box: tuple[int, int, int, int], colour, squeeze: float = 0.8) -> None:
    """Draw a line of text parts and gaps with cap height ``box[3]``, centred in ``box``.

    Characters are narrowed by ``squeeze`` (plate fonts are condensed) and further when the
    line would not fit the box width.
    """
    x0, y0, bw, cap = box
    masks = [fonts.mask(p) if isinstance(p, str) else None for p in parts]
    widths = [m.shape[1] * cap / m.shape[0] * squeeze if m is not None else p.width * cap
              for p, m in zip(parts, masks)]
    scale = min(1.0, bw / sum(widths))
    x = x0 + (bw - sum(widths) * scale) / 2
    for part, mask, width in zip(parts, masks, widths):
        w = int(round(width * scale))
        if mask is not None:
            _paint_mask(canvas, mask, int(round(x)), y0, w, cap, colour)
        elif part.draw is not None:
            part.draw(canvas, (int(round(x)), y0, w, cap))
        x += width * scale


def _draw_text(canvas, fonts, text, box, colour, squeeze=0.8) -> None:
    _draw_line(canvas, fonts, [text], box, colour, squeeze)


# ---------------------------------------------------------------------------------------------
# Plates
# ---------------------------------------------------------------------------------------------

def _blank_plate(w: int, h: int, background, border=_BLACK, border_px: int = 4) -> np.ndarray:
    plate = np.zeros((h, w, 3), np.uint8)
    plate[:] = border
    inset = border_px
    plate[inset:h - inset, inset:w - inset] = background
    return plate


def _eu_band(plate: np.ndarray, fonts: _TextRenderer, code: str, border_px: int = 4,
             stars: bool = True) -> int:
    """Blue band with the EU ring of stars and the country code; returns its right edge."""
    h = plate.shape[0]
    bw = int(h * 0.4)
    plate[border_px:h - border_px, border_px:border_px + bw] = _EU_BLUE
    cx, cy, r = border_px + bw // 2, int(h * 0.3), h * 0.13
    for k in range(12 if stars else 0):
        a = 2 * math.pi * k / 12
        centre = (int(cx + r * math.cos(a)), int(cy + r * math.sin(a)))
        cv2.circle(plate, centre, max(1, h // 60), _STAR_YELLOW, -1, cv2.LINE_AA)
    cap = int(h * 0.2)
    _draw_text(plate, fonts, code, (border_px + 3, int(h * 0.62), bw - 6, cap), _WHITE, 1.0)
    return border_px + bw


def _draw_seals(canvas: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """German registration seals: two small discs stacked between district and letters."""
    x, y, w, h = box
    r = max(2, int(min(w, h) * 0.2))
    cx = x + w // 2
    cv2.circle(canvas, (cx, y + int(h * 0.25)), r, (60, 140, 200), -1, cv2.LINE_AA)
    cv2.circle(canvas, (cx, y + int(h * 0.72)), r, (170, 170, 170), -1, cv2.LINE_AA)
    cv2.circle(canvas, (cx, y + int(h * 0.72)), max(1, r // 3), (40, 40, 160), -1, cv2.LINE_AA)


def _draw_sk_arms(canvas: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Slovak coat of arms, reduced to a small red shield with a white cross on blue hills."""
    x, y, w, h = box
    sw, sh = int(w * 0.7), int(h * 0.55)
    sx, sy = x + (w - sw) // 2, y + int(h * 0.2)
    shield = np.array([(sx, sy), (sx + sw, sy), (sx + sw, sy + int(sh * 0.6)),
                       (sx + sw // 2, sy + sh), (sx, sy + int(sh * 0.6))], np.int32)
    cv2.fillPoly(canvas, [shield], (40, 40, 200), cv2.LINE_AA)
    cv2.ellipse(canvas, (sx + sw // 2, sy + int(sh * 0.8)), (sw // 3, sh // 6), 0, 180, 360,
                (150, 60, 20), -1, cv2.LINE_AA)
    t = max(1, sw // 8)
    cv2.line(canvas, (sx + sw // 2, sy + sh // 8), (sx + sw // 2, sy + int(sh * 0.65)), _WHITE, t)
    cv2.line(canvas, (sx + sw // 4, sy + sh // 3), (sx + 3 * sw // 4, sy + sh // 3), _WHITE, t)


def _draw_bar(canvas: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x, y, w, h = box
    cv2.line(canvas, (x + w // 2, y - h // 6), (x + w // 2, y + h + h // 6), _BLACK, max(2, w // 6))


def _eu_text_box(w: int, h: int, left: int, right_margin: int) -> tuple[int, int, int, int]:
    """Box of the character line of a one-line European plate."""
    cap = int(h * _EU_CAP)
    return (left, (h - cap) // 2, w - left - right_margin, cap)


def _split_display(text: str, *cuts: int) -> str:
    """Insert spaces into ``text`` at the given offsets."""
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return ' '.join(p for p in pieces if p)


_Rng = np.random.Generator


def _render_uk(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    """Yellow rear or white front plate, sometimes with the blue ``UK`` identifier band."""
    h = 110
    w = int(h * _EU_ASPECT)
    rear = rng.random() < 0.6
    plate = _blank_plate(w, h, _UK_YELLOW if rear else _WHITE, border_px=3)
    left = _eu_band(plate, fonts, 'UK', border_px=3, stars=False) if rng.random() < 0.4 else 3
    _draw_line(plate, fonts, [display], _eu_text_box(w, h, left + 10, 12), _BLACK, 0.78)
    return plate


def _render_split(display: str, fonts: _TextRenderer, band: str, gap: _Gap, squeeze: float) -> np.ndarray:
    """An EU plate whose district code and number are parted by an emblem."""
    h = 110
    w = int(h * _EU_ASPECT)
    plate = _blank_plate(w, h, _WHITE)
    left = _eu_band(plate, fonts, band)
    district, rest = display.split(' ', 1)
    _draw_line(plate, fonts, [district, gap, rest], _eu_text_box(w, h, left + 10, 12), _BLACK, squeeze)
    return plate


def _render_sk(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    district, rest = display.split(' ', 1)
    return _render_split(f"{district} {rest.replace(' ', '')}", fonts, 'SK', _Gap(0.42, _draw_sk_arms), 0.8)


def _render_de(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    return _render_split(display, fonts, 'D', _Gap(0.45, _draw_seals), 0.78)


def _render_kz(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    h = 110
    w = int(h * _EU_ASPECT)
    plate = _blank_plate(w, h, _WHITE)
    fx, fy, fw, fh = 10, 14, int(h * 0.36), int(h * 0.24)
    plate[fy:fy + fh, fx:fx + fw] = (200, 175, 0)   # sky-blue flag with the golden sun
    cv2.circle(plate, (fx + fw // 2, fy + fh // 2), fh // 3, _STAR_YELLOW, -1, cv2.LINE_AA)
    _draw_text(plate, fonts, 'KZ', (fx, int(h * 0.56), fw, int(h * 0.22)), _BLACK, 1.0)
    main, region = display.rsplit(' ', 1)
    left = fx + fw + 8
    parts = [main, _Gap(0.35, _draw_bar), region]
    _draw_line(plate, fonts, parts, _eu_text_box(w, h, left, 14), _BLACK, 0.8)
    return plate


def _render_ru(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    h = 112
    w = int(h * 4.64)
    plate = _blank_plate(w, h, _WHITE)
    main, region = display.split(' ')
    split = int(w * 0.74)
    cv2.line(plate, (split, 4), (split, h - 5), _BLACK, 3)
    digit_cap, letter_cap = int(h * _EU_CAP), int(h * _EU_CAP * 0.76)
    base = (h + digit_cap) // 2
    pieces = [(main[0], letter_cap), (main[1:4], digit_cap), (main[4:], letter_cap)]
    masks = [fonts.mask(t) for t, _ in pieces]
    widths = [int(m.shape[1] * cap / m.shape[0] * 0.82) for m, (_, cap) in zip(masks, pieces)]
    gap = int(h * 0.07)
    x = (split - sum(widths) - 2 * gap) // 2
    for mask, wd, (_, cap) in zip(masks, widths, pieces):
        _paint_mask(plate, mask, x, base - cap, wd, cap, _BLACK)
        x += wd + gap
    _draw_text(plate, fonts, region, (split + 6, int(h * 0.1), w - split - 14, int(h * 0.5)),
               _BLACK, 0.8)
    _draw_ru_flag(plate, fonts, (split + 6, int(h * 0.68), w - split - 14, int(h * 0.2)))
    return plate


def _draw_ru_flag(plate: np.ndarray, fonts: _TextRenderer, box: tuple[int, int, int, int]) -> None:
    x, y, w, h = box
    _draw_text(plate, fonts, 'RUS', (x, y, int(w * 0.62), h), _BLACK, 1.0)
    fx, fw = x + int(w * 0.68), int(w * 0.3)
    for k, colour in enumerate((_WHITE, (160, 60, 0), (40, 40, 200))):
        plate[y + k * h // 3:y + (k + 1) * h // 3, fx:fx + fw] = colour
    cv2.rectangle(plate, (fx, y), (fx + fw, y + h), (120, 120, 120), 1)


def _render_us(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    h = 160
    w = 2 * h
    plate = _blank_plate(w, h, _WHITE, border=(90, 90, 90), border_px=3)
    top = plate[3:3 + h // 3, 3:w - 3]          # a faint blue sky behind the state name
    shade = np.linspace(0.9, 1.0, top.shape[0], dtype=np.float32)[:, None, None]
    top[:] = (top * shade + np.array((40, 0, 0), np.float32) * (1 - shade)).astype(np.uint8)
    state = _US_STATES[int(rng.integers(len(_US_STATES)))]
    state_colour = ((40, 40, 190), (140, 50, 20), (30, 30, 30))[int(rng.integers(3))]
    _draw_text(plate, fonts, state, (int(w * 0.18), int(h * 0.09), int(w * 0.64), int(h * 0.12)),
               state_colour, 0.9)
    _draw_text(plate, fonts, display, (int(w * 0.05), int(h * 0.33), int(w * 0.9), int(h * 0.42)),
               _US_BLUE, 0.8)
    return plate


def _render_br(display: str, fonts: _TextRenderer, rng: _Rng) -> np.ndarray:
    h = 120
    w = int(h * 3.08)
    plate = _blank_plate(w, h, _WHITE, border_px=3)
    band = int(h * 0.22)
    plate[3:3 + band, 3:w - 3] = _EU_BLUE
    _draw_text(plate, fonts, 'BRASIL', (int(w * 0.35), 3 + band // 4, int(w * 0.3), band // 2),
               _WHITE, 1.0)
    plate[3 + band // 5:3 + band - band // 5, w - 12 - band:w - 12] = (60, 150, 20)
    _draw_text(plate, fonts, display, (int(w * 0.06), int(h * 0.36), int(w * 0.88), int(h * 0.5)),
               _BLACK, 0.8)
    return plate


def _pick(rng: np.random.Generator, alphabet, n: int) -> str:
    return ''.join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=n))


def _make_de(rng) -> str:
    district = _DE_DISTRICTS[int(rng.integers(len(_DE_DISTRICTS)))]
    letters = _pick(rng, _LETTERS, int(rng.integers(1, 3)))
    n_digits = int(rng.integers(2, min(4, 8 - len(district) - len(letters)) + 1))
    digits = str(int(rng.integers(10 ** (n_digits - 1), 10 ** n_digits)))
    return f'{district} {letters} {digits}'


@dataclass(frozen=True)
class _PlateFormat:
    name: str
    layouts: tuple[PlateFormat, ...]                      # what it draws (lpr_common.plate_text)
    make: Callable[[np.random.Generator], str]            # random display text
    display: Callable[[str], str]                          # compact text -> display text
    render: Callable[[str, _TextRenderer, np.random.Generator], np.ndarray]
    width_ratio: float                                    # plate width / car width

    def draws(self, text: str) -> bool:
        """``text`` (compact) fits one of the layouts this format draws."""
        latin = to_latin(text)
        return any(f.fits(latin) for f in self.layouts)


def _layouts(region: str, *patterns: str) -> tuple[PlateFormat, ...]:
    """The region's layouts (lpr_common.plate_text), or only those with these patterns."""
    return tuple(f for f in PLATE_LAYOUTS[region] if not patterns or f.pattern in patterns)


_PLATE_FORMATS = {f.name: f for f in (
    _PlateFormat('UK', _layouts('UK'),
                 lambda r: _split_display(_pick(r, _LETTERS, 2) + _pick(r, _DIGITS, 2)
                                          + _pick(r, _LETTERS, 3), 4),
                 lambda t: _split_display(t, 4), _render_uk, 0.39),
    _PlateFormat('SK', _layouts('SK'),
                 lambda r: (_SK_DISTRICTS[int(r.integers(len(_SK_DISTRICTS)))] + ' '
                            + _pick(r, _DIGITS, 3) + _pick(r, _LETTERS, 2)),
                 lambda t: _split_display(t, 2), _render_sk, 0.39),
    _PlateFormat('DE', _layouts('DE'), _make_de,
                 lambda t: _split_display(t, 1, len(re.match(r'[A-Z]+', t).group())),
                 _render_de, 0.39),
    _PlateFormat('KZ', _layouts('KZ'),
                 lambda r: (_pick(r, _DIGITS, 3) + ' ' + _pick(r, _LETTERS, 3) + ' '
                            + f'{int(r.integers(1, 20)):02d}'),
                 lambda t: _split_display(t, 3, len(t) - 2), _render_kz, 0.39),
    _PlateFormat('RU', _layouts('RU'),
                 lambda r: (_pick(r, _RU_LETTERS, 1) + _pick(r, _DIGITS, 3)
                            + _pick(r, _RU_LETTERS, 2) + ' ' + str(int(r.integers(10, 200)))),
                 lambda t: _split_display(t, 6), _render_ru, 0.39),
    _PlateFormat('US', _layouts('US', 'LLLDDDD'),
                 lambda r: _pick(r, _LETTERS, 3) + _pick(r, _DIGITS, 4),
                 lambda t: t, _render_us, 0.3),
    _PlateFormat('BR', _layouts('BR', 'LLLDLDD'),
                 lambda r: _pick(r, _LETTERS, 3) + _pick(r, _DIGITS, 1) + _pick(r, _LETTERS, 1)
                 + _pick(r, _DIGITS, 2),
                 lambda t: t, _render_br, 0.32),
)}


# most specific first: the DE pattern also fits US and BR texts
_INFER_ORDER = ('UK', 'SK', 'KZ', 'RU', 'BR', 'US', 'DE')


def parse_plate(entry: str) -> tuple[str, str]:
    """``"FMT:TEXT"`` or ``"TEXT"`` -> (format, display text); raises SceneError.

    Without a format, the first of _INFER_ORDER whose pattern fits the text is taken. Display
    spaces written in the entry are kept, otherwise the format's usual ones are inserted (for
    DE, a one-letter district is assumed: write ``"DE:HH AB 12"`` for others).
    """
    fmt, sep, text = entry.partition(':')
    if not sep:
        fmt, text = '', entry
    fmt, key = fmt.strip().upper(), compact(text)
    if fmt and fmt not in _PLATE_FORMATS:
        raise SceneError(f'unknown plate format {fmt!r} in {entry!r} (known: {", ".join(FORMATS)})')
    if not fmt:
        fmt = next((f for f in _INFER_ORDER if _PLATE_FORMATS[f].draws(key)), '')
        if not fmt:
            raise SceneError(f'cannot tell the plate format of {entry!r}: write it as FMT:TEXT')
    spec = _PLATE_FORMATS[fmt]
    if not spec.draws(key):
        raise SceneError(f'{entry!r} is not a {fmt} plate (layouts {", ".join(f.pattern for f in spec.layouts)})')
    display = ' '.join(text.upper().split()) if ' ' in text.strip() else spec.display(key)
    return fmt, display


# ---------------------------------------------------------------------------------------------
# Cars
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Car:
    car_id: int
    text: str            # compact truth
    format: str
    display: str
    colour: tuple[int, int, int]
    width: int
    enter_s: float       # time its front edge reaches the frame
    y_top: int
    stop_s: float = 0.0  # it waits this long with its centre mid-frame (stop and go)
    oncoming: bool = False  # far lane: drives right to left


@dataclass(frozen=True)
class _Sprite:
    """A rendered car: BGR pixels, alpha (0-255) and the plate's box inside the sprite."""

    image: np.ndarray
    alpha: np.ndarray
    plate_box: tuple[int, int, int, int]


def _shade(colour, factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * factor))) for c in colour)


def _fill(image: np.ndarray, alpha: np.ndarray, points, colour) -> None:
    pts = [np.asarray(points, np.int32)]
    cv2.fillPoly(image, pts, colour, cv2.LINE_AA)
    cv2.fillPoly(alpha, pts, 255, cv2.LINE_AA)


def _rounded_box(x0, y0, x1, y1, r) -> np.ndarray:
    """Polygon of a rectangle with rounded corners."""
    points = []
    for cx, cy, a0 in ((x1 - r, y0 + r, -90), (x1 - r, y1 - r, 0), (x0 + r, y1 - r, 90),
                       (x0 + r, y0 + r, 180)):
        for a in range(a0, a0 + 91, 15):
            points.append((cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))))
    return np.array(points, np.int32)


def _render_car(car: _Car, plate: np.ndarray, rng: np.random.Generator,
                plate_width: int) -> _Sprite:
    """Rear view of a car with ``plate`` (scaled to ``plate_width``) on its bumper."""
    cw = car.width
    ch = int(cw * 0.62)
    shadow = int(ch * 0.06)
    image = np.zeros((ch + shadow, cw, 3), np.uint8)
    alpha = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(image, (cw // 2, ch), (int(cw * 0.52), shadow), 0, 0, 360, (0, 0, 0), -1)
    cv2.ellipse(alpha, (cw // 2, ch), (int(cw * 0.52), shadow), 0, 0, 360, 110, -1)
    _draw_body(image, alpha, car.colour, rng)
    box = _mount_plate(image, plate, plate_width, plate_bottom=int(ch * 0.89))
    return _Sprite(image, alpha, box)


def _draw_body(image: np.ndarray, alpha: np.ndarray, body, rng: np.random.Generator) -> None:
    """Tyres, roof, rear window, body with shading, tail lights and bumper."""
    cw, ch = image.shape[1], int(image.shape[1] * 0.62)

    def poly(*points):
        return [(cw * fx, ch * fy) for fx, fy in points]

    for wx in (0.08, 0.74):
        tyre = _rounded_box(int(cw * wx), int(ch * 0.72), int(cw * (wx + 0.18)), ch, int(cw * 0.03))
        _fill(image, alpha, tyre, (25, 25, 25))
    roof = poly((0.2, 0.02), (0.8, 0.02), (0.93, 0.4), (0.07, 0.4))
    _fill(image, alpha, roof, _shade(body, 1.08))
    window = poly((0.24, 0.07), (0.76, 0.07), (0.86, 0.36), (0.14, 0.36))
    _fill(image, alpha, window, (70, 55, 45))
    glare = np.asarray(poly((0.5, 0.07), (0.6, 0.07), (0.47, 0.36), (0.37, 0.36)), np.int32)
    cv2.fillPoly(image, [glare], (105, 95, 88), cv2.LINE_AA)
    trunk = _rounded_box(0, int(ch * 0.36), cw - 1, int(ch * 0.9), int(cw * 0.05))
    _fill(image, alpha, trunk, body)
    _shade_body(image, int(ch * 0.36), int(ch * 0.9))
    cv2.line(image, (int(cw * 0.04), int(ch * 0.43)), (int(cw * 0.96), int(ch * 0.43)),
             _shade(body, 1.25), max(1, ch // 120), cv2.LINE_AA)
    for lx in (int(cw * 0.03), int(cw * 0.79)):       # tail lights
        x1 = lx + int(cw * 0.18)
        cv2.rectangle(image, (lx, int(ch * 0.45)), (x1, int(ch * 0.56)), (30, 30, 190), -1)
        cv2.rectangle(image, (lx, int(ch * 0.45)), (x1, int(ch * 0.47)), (90, 90, 235), -1)
    bumper = _shade(body, 0.7) if rng.random() < 0.5 else (45, 45, 45)
    box = _rounded_box(int(cw * 0.01), int(ch * 0.74), int(cw * 0.99), int(ch * 0.92),
                       int(ch * 0.03))
    _fill(image, alpha, box, bumper)


def _mount_plate(image: np.ndarray, plate: np.ndarray, plate_width: int,
                 plate_bottom: int) -> tuple[int, int, int, int]:
    """Paste ``plate`` centred in a grey holder; returns the plate's box.

    The holder matters: the reference YOLOv8n plate detector finds framed plates on a bumper
    far more reliably than bare plates on the trunk lid (on a set of hard cases: 99 % of
    plates found against 79 %).
    """
    ph = int(round(plate_width * plate.shape[0] / plate.shape[1]))
    px, py = (image.shape[1] - plate_width) // 2, plate_bottom - ph
    rim = max(2, ph // 8)
    cv2.rectangle(image, (px - rim, py - rim), (px + plate_width + rim, py + ph + rim),
                  _HOLDER_GREY, -1)
    image[py:py + ph, px:px + plate_width] = cv2.resize(plate, (plate_width, ph),
                                                        interpolation=cv2.INTER_AREA)
    return (px, py, plate_width, ph)


def _shade_body(image: np.ndarray, y0: int, y1: int) -> None:
    """Simple vertical shading: lit from above, darker towards the bumper."""
    gain = np.linspace(1.12, 0.78, y1 - y0, dtype=np.float32)[:, None, None]
    image[y0:y1] = np.clip(image[y0:y1] * gain, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Scene
# ---------------------------------------------------------------------------------------------

class SyntheticScene:
    """Frames and ground truth of a synthetic street scene (see the module docstring)."""

    _NOISE_BANK = 3
    _SPRITE_CACHE = 4

    def __init__(self, config: SceneConfig | None = None) -> None:
        self.config = config or SceneConfig()
        self._fonts = _TextRenderer()
        self._scale = min(self.config.width / 1280, self.config.height / 720)
        rng = np.random.default_rng(self.config.seed)
        self._cars = self._plan_cars(rng)
        period = max(c.enter_s + self._crossing_s(c) for c in self._cars) + self.config.gap_s
        self.num_frames = max(1, math.ceil(period * self.config.fps))
        self._background = self._render_background(rng)
        self._noise = self._make_noise(rng)
        self._sprites: dict[int, _Sprite] = {}

    # -- public API ---------------------------------------------------------------------------

    def plates(self) -> list[str]:
        """Plate texts (compact) in order of appearance."""
        return [car.text for car in self._cars]

    def frame(self, index: int) -> np.ndarray:
        """BGR frame ``index`` (the scene repeats every ``num_frames`` frames)."""
        index %= self.num_frames
        image = self._background.copy()
        for car, x in self._visible(index):
            self._paste(image, self._sprite(car), x, car.y_top)
        if self.config.noise > 0:
            noisy = image.astype(np.int16) + self._noise[index % self._NOISE_BANK]
            image = np.clip(noisy, 0, 255).astype(np.uint8)
        return image

    def truth(self, index: int) -> list[PlateTruth]:
        """The plates drawn in frame ``index``, boxes clipped to the frame."""
        found = []
        for car, x in self._visible(index):
            px, py, pw, ph = self._sprite(car).plate_box
            box = self._clip(x + px, car.y_top + py, pw, ph)
            if box is not None:
                found.append(PlateTruth(car.text, car.format, box, car.car_id,
                                        box == (x + px, car.y_top + py, pw, ph)))
        return found

    # -- planning -----------------------------------------------------------------------------

    def _plan_cars(self, rng: np.random.Generator) -> list[_Car]:
        cfg = self.config
        if cfg.cars is not None:
            plates = [parse_plate(entry) for entry in cfg.cars]
        else:
            order = [cfg.formats[k % len(cfg.formats)] for k in range(cfg.car_count)]
            plates = [(fmt, _PLATE_FORMATS[fmt].make(rng)) for fmt in order]
        cars, t = [], cfg.gap_s / 2
        for car_id, (fmt, display) in enumerate(plates):
            far = car_id in cfg.far_lane
            width = int(round(rng.uniform(0.42, 0.52) * 1280 * self._scale))
            bottom = rng.uniform(0.92, 0.97)
            if far:   # oncoming, beside the car before it: further away, smaller, higher in the frame
                width, bottom = int(width * 0.62), rng.uniform(0.56, 0.6)
                t = cars[-1].enter_s
            height = int(width * 0.62 * 1.06)
            y_top = int(cfg.height * bottom) - height
            colour = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
            stop_s = sum(sec for index, sec in cfg.stops if index == car_id)
            car = _Car(car_id, compact(display), fmt, display, colour, width, t, max(0, y_top), stop_s, far)
            cars.append(car)
            t = max(c.enter_s + self._crossing_s(c) for c in cars) + cfg.gap_s
        return cars

    def _crossing_s(self, car: _Car) -> float:
        return (self.config.width + car.width) / self.config.speed + car.stop_s

    def _travelled(self, car: _Car, t: float) -> float:
        """Pixels the car has moved since entering, its stop included."""
        moving = t - car.enter_s
        halfway = (self.config.width + car.width) / 2 / self.config.speed
        if car.stop_s and moving > halfway:
            moving = max(halfway, moving - car.stop_s)
        return moving * self.config.speed

    def _visible(self, index: int):
        """(car, x) in view, far lane first (drawn behind)."""
        t = (index % self.num_frames) / self.config.fps
        for car in sorted(self._cars, key=lambda c: c.y_top):
            x = int(round(-car.width + self._travelled(car, t)))
            if car.oncoming:
                x = self.config.width - car.width - x
            if -car.width < x < self.config.width:
                yield car, x

    # -- rendering ----------------------------------------------------------------------------

    def _sprite(self, car: _Car) -> _Sprite:
        sprite = self._sprites.get(car.car_id)
        if sprite is None:
            rng = np.random.default_rng((self.config.seed, car.car_id))
            spec = _PLATE_FORMATS[car.format]
            plate = spec.render(car.display, self._fonts, rng)
            plate_width = int(round(car.width * spec.width_ratio))
            sprite = _render_car(car, plate, rng, plate_width)
            if len(self._sprites) >= self._SPRITE_CACHE:
                self._sprites.pop(next(iter(self._sprites)))
            self._sprites[car.car_id] = sprite
        return sprite

    def _paste(self, image: np.ndarray, sprite: _Sprite, x: int, y: int) -> None:
        h, w = sprite.alpha.shape
        box = self._clip(x, y, w, h)
        if box is None:
            return
        bx, by, bw, bh = box
        sx, sy = bx - x, by - y
        alpha = sprite.alpha[sy:sy + bh, sx:sx + bw, None].astype(np.uint16)
        src = sprite.image[sy:sy + bh, sx:sx + bw].astype(np.uint16)
        dst = image[by:by + bh, bx:bx + bw].astype(np.uint16)
        blended = (src * alpha + dst * (255 - alpha) + 127) // 255
        image[by:by + bh, bx:bx + bw] = blended.astype(np.uint8)

    def _clip(self, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int] | None:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.config.width, x + w), min(self.config.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1 - x0, y1 - y0)

    def _make_noise(self, rng: np.random.Generator) -> np.ndarray:
        """A few frames of sensor-like noise, reused in turn (int8: 2.8 MB each at 720p)."""
        if self.config.noise <= 0:
            return np.zeros((self._NOISE_BANK, 1, 1, 3), np.int8)
        shape = (self._NOISE_BANK, self.config.height, self.config.width, 3)
        noise = rng.normal(0.0, self.config.noise, size=shape).astype(np.float32)
        return np.clip(np.round(noise), -127, 127).astype(np.int8)

    def _render_background(self, rng: np.random.Generator) -> np.ndarray:
        """Sky, a row of buildings, a pavement and an asphalt road with lane markings."""
        w, h = self.config.width, self.config.height
        image = np.zeros((h, w, 3), np.uint8)
        horizon, kerb = int(h * 0.3), int(h * 0.4)
        sky = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
        image[:horizon] = ((1 - sky) * (215, 170, 120) + sky * (235, 220, 200)).astype(np.uint8)
        self._draw_buildings(image, rng, horizon)
        image[horizon:kerb] = (165, 168, 170)
        for x in range(0, w, max(8, w // 24)):
            cv2.line(image, (x, horizon), (x - w // 60, kerb), (140, 142, 145), 1)
        cv2.rectangle(image, (0, kerb - 6), (w, kerb), (120, 122, 125), -1)
        road = rng.normal(88, 6, size=(h - kerb, w)).astype(np.float32)
        road = cv2.GaussianBlur(road, (0, 0), 1.2)
        image[kerb:] = np.clip(road, 0, 255).astype(np.uint8)[..., None]
        lane_y = int(h * 0.47)
        cv2.line(image, (0, lane_y), (w, lane_y), (200, 200, 200), max(2, h // 180))
        for x in range(0, w, max(40, w // 8)):
            cv2.line(image, (x, h - 8), (x + w // 16, h - 8), (200, 200, 200), max(3, h // 120))
        return image

    @staticmethod
    def _draw_buildings(image: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
        w = image.shape[1]
        x = 0
        while x < w:
            bw = int(rng.uniform(0.08, 0.18) * w)
            top = int(horizon * rng.uniform(0.15, 0.6))
            tone = int(rng.uniform(120, 200))
            colour = (tone - 20, tone - 5, tone + int(rng.uniform(-10, 30)))
            cv2.rectangle(image, (x, top), (x + bw, horizon), colour, -1)
            step = max(10, bw // 6)
            for wy in range(top + step // 2, horizon - step // 2, step):
                for wx in range(x + step // 3, x + bw - step // 2, step):
                    cv2.rectangle(image, (wx, wy), (wx + step // 2, wy + step // 2),
                                  _shade(colour, 0.65), -1)
            x += bw + int(rng.uniform(0, 0.03) * w)
