"""Synthetic plates: a clean plate image and its label, per region.

Each region draws its background, bands, seals and small print, then the
registration in groups fitted to a text box. The label is the registration
without spaces or separators, in the script printed on the plate (Cyrillic
letters on Russian plates). Damage (perspective, blur, night IR, ...) is
added afterwards by ``damage.py``.

Formats (simplified from the national rules, good enough for a reader):
RU ``А123ВС77(7)``, KZ 2012 ``123ABC02`` (KZ plates print Latin letters),
UK ``AB12CDE``, DE ``B AB 1234``, PL ``WA 12345``, FR ``AB-123-CD``,
CZ ``1AB 2345``, SK ``BA-123AB``, several EU countries with the blue band,
US-style ``ABC1234`` between a state name and a slogan, BR grey ``AAA-9999``
and Mercosur ``AAA9A99``, CN ``京A12345`` (blue; green new-energy with 6),
TH ``1กข 1234`` over the province name.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .alphabet import CN_PROVINCES, CYRILLIC, DIGITS, LATIN, THAI
from .fonts import Font, font_pools

REGIONS = ('KZ', 'RU', 'UK', 'EU', 'DE', 'PL', 'FR', 'CZSK', 'US', 'BR', 'BRM', 'CN', 'TH')

WHITE, BLACK = (245, 245, 240), (20, 20, 20)
EU_BLUE, YELLOW = (0, 51, 153), (250, 205, 20)
CN_LETTERS = LATIN.replace('I', '').replace('O', '')
THAI_PROVINCES = ('กรุงเทพมหานคร', 'เชียงใหม่', 'ภูเก็ต', 'ขอนแก่น', 'นครราชสีมา', 'ชลบุรี', 'สงขลา',
                  'เชียงราย', 'อุดรธานี', 'นนทบุรี', 'ปทุมธานี', 'สมุทรปราการ', 'ระยอง', 'พิษณุโลก')
US_STATES = (('CALIFORNIA', 'DLLLDDD', (20, 40, 140), 'DMV.CA.GOV'),
             ('NEW YORK', 'LLLDDDD', (20, 30, 90), 'EMPIRE STATE'),
             ('TEXAS', 'LLLDDDD', (20, 20, 20), 'THE LONE STAR STATE'),
             ('FLORIDA', 'LLLLDD', (20, 90, 40), 'SUNSHINE STATE'),
             ('OHIO', 'LLLDDDD', (20, 30, 90), 'BIRTHPLACE OF AVIATION'),
             ('ILLINOIS', 'LLDDDDD', (130, 20, 20), 'LAND OF LINCOLN'),
             ('ARIZONA', 'LLLDDDD', (20, 20, 20), 'GRAND CANYON STATE'),
             ('WASHINGTON', 'LLLDDDD', (20, 30, 90), 'EVERGREEN STATE'))
# Country code on the blue band -> registration patterns (L letter, D digit,
# A either, space = group gap, '-' a printed hyphen).
EU_COUNTRIES = {'I': ('LL DDD LL',), 'E': ('DDDD LLL',), 'NL': ('LL-DDD-L', 'DD-LLL-D', 'L-DDD-LL'),
                'B': ('D-LLL-DDD',), 'P': ('LL-DD-LL', 'DD-LL-DD'), 'H': ('LLL-DDD',), 'RO': ('L DD LLL',),
                'LT': ('LLL DDD',), 'S': ('LLL DDL', 'LLL DDD'), 'FIN': ('LLL-DDD',), 'A': ('L DDDD L',),
                'HR': ('LL DDDD LL',), 'LV': ('LL-DDDD',), 'EST': ('DDD LLL',), 'DK': ('LL DD DDD',),
                'L': ('LL DDDD',), 'IRL': ('DDD-L-DDDD',), 'SLO': ('LL L-DDD',), 'BG': ('LL DDDD LL',)}


@dataclass
class Plate:
    image: np.ndarray   # RGB uint8, the plate alone
    text: str           # the label
    region: str


class Renderer:
    """Draws plates with the training fonts, or with the held-out test fonts."""

    def __init__(self, held_out: bool = False):
        self.pools = font_pools(held_out)

    def render(self, region: str, rng: np.random.Generator) -> Plate:
        draw = _DRAWERS[region]
        return draw(_Canvas(self, rng), rng)

    def font(self, script: str, rng: np.random.Generator) -> Font:
        pool = self.pools[script]
        return pool[rng.integers(len(pool))]


def random_region(rng: np.random.Generator) -> str:
    return REGIONS[rng.integers(len(REGIONS))]


# -- text -----------------------------------------------------------------------
def fill_pattern(pattern: str, rng: np.random.Generator, letters: str = LATIN) -> str:
    """'LL-DDD' -> 'KX-042': L a letter, D a digit, A either; anything else is kept."""
    out = []
    for p in pattern:
        if p == 'L':
            out.append(letters[rng.integers(len(letters))])
        elif p == 'D':
            out.append(DIGITS[rng.integers(10)])
        elif p == 'A':
            pool = letters + DIGITS
            out.append(pool[rng.integers(len(pool))])
        else:
            out.append(p)
    return ''.join(out)


def label_of(printed: str) -> str:
    return ''.join(ch for ch in printed if ch not in ' -·.')


class _Canvas:
    """A plate being drawn: an RGB array at about 110 px of height."""

    def __init__(self, renderer: Renderer, rng: np.random.Generator):
        self.renderer = renderer
        self.rng = rng
        self.img: np.ndarray | None = None

    def new(self, width: int, height: int, colour) -> None:
        self.img = np.empty((height, width, 3), np.uint8)
        self.img[:] = _jitter(colour, self.rng)

    def rect(self, box, colour) -> None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        self.img[max(y0, 0):y1, max(x0, 0):x1] = colour

    def border(self, colour, width: int = 3, inset: int = 3) -> None:
        h, w = self.img.shape[:2]
        cv2.rectangle(self.img, (inset, inset), (w - 1 - inset, h - 1 - inset), colour, width, cv2.LINE_AA)

    def circle(self, centre, radius, colour, thickness=-1) -> None:
        cv2.circle(self.img, (int(centre[0]), int(centre[1])), int(radius), colour, thickness, cv2.LINE_AA)

    def text(self, groups, box, colour, font: Font, gap: float = 0.35, squeeze=(0.8, 1.1)) -> None:
        """Draw groups (strings, or (string, Font) pairs) fitted into box:
        each group's body as tall as the box, ``gap`` x box height between groups."""
        x0, y0, x1, y1 = box
        height = y1 - y0
        factor = self.rng.uniform(*squeeze)
        pieces = [_glyphs(g if isinstance(g, str) else g[0], font if isinstance(g, str) else g[1], height, factor)
                  for g in groups]
        spacing = gap * height
        total = sum(p[0].shape[1] for p in pieces) + spacing * (len(pieces) - 1)
        shrink = min(1.0, (x1 - x0) / max(total, 1))
        x = x0 + ((x1 - x0) - total * shrink) / 2
        for mask, above in pieces:
            w = max(1, int(round(mask.shape[1] * shrink)))
            mask = cv2.resize(mask, (w, mask.shape[0]), interpolation=cv2.INTER_AREA)
            self.paste(mask, int(round(x)), int(round(y0 - above)), colour)
            x += w + spacing * shrink

    def small(self, text: str, box, colour, font: Font) -> None:
        """Small print (state names, slogans, provinces) fitted to the box as a whole."""
        x0, y0, x1, y1 = (int(v) for v in box)
        mask = _line_mask(text, font, max(8, y1 - y0))
        if mask is None:
            return
        scale = min((x1 - x0) / mask.shape[1], (y1 - y0) / mask.shape[0])
        w, h = max(1, int(mask.shape[1] * scale)), max(1, int(mask.shape[0] * scale))
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
        self.paste(mask, x0 + (x1 - x0 - w) // 2, y0 + (y1 - y0 - h) // 2, colour)

    def paste(self, mask: np.ndarray, x: int, y: int, colour) -> None:
        h, w = self.img.shape[:2]
        mx0, my0 = max(0, -x), max(0, -y)
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + mask.shape[1]), min(h, y + mask.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        alpha = mask[my0:my0 + (y1 - y0), mx0:mx0 + (x1 - x0), None].astype(np.float32) / 255.0
        region = self.img[y0:y1, x0:x1].astype(np.float32)
        ink = np.asarray(_jitter(colour, self.rng, 10), np.float32)
        self.img[y0:y1, x0:x1] = (region * (1 - alpha) + ink * alpha).astype(np.uint8)

    def eu_band(self, code: str, width: int, colour=EU_BLUE, stars: bool = True) -> None:
        h = self.img.shape[0]
        self.rect((0, 0, width, h), colour)
        if stars:
            cx, cy, r = width / 2, h * 0.3, width * 0.3
            for k in range(12):
                a = 2 * np.pi * k / 12
                self.circle((cx + r * np.cos(a), cy + r * np.sin(a)), max(1, width * 0.04), YELLOW)
        if code:
            self.small(code, (width * 0.1, h * 0.58, width * 0.9, h * 0.92), WHITE,
                       self.renderer.font('latin', self.rng))


def _jitter(colour, rng, amount: int = 18):
    """The colour, a little lighter or darker and slightly tinted."""
    shift = rng.integers(-amount, amount + 1)
    return tuple(int(np.clip(c + shift + rng.integers(-amount // 3, amount // 3 + 1), 0, 255)) for c in colour)


_RENDER_SIZE = 96


def _glyphs(text: str, font: Font, height: float, squeeze: float) -> tuple[np.ndarray, float]:
    """A group's ink as a mask whose body (digit or consonant height) is ``height``
    px tall, and how far ascenders rise above the body."""
    face = font.load(_RENDER_SIZE)
    probe = 'กขค' if any(ch in THAI for ch in text) else text if any(ch in CN_PROVINCES for ch in text) else '0123'
    body = face.getbbox(probe)
    if text in ('-', '·'):
        return _separator(text, height), 0.0
    ink = face.getbbox(text)
    top, bottom = min(ink[1], body[1]), max(ink[3], body[3])
    image = Image.new('L', (ink[2] - ink[0] + 4, bottom - top + 4))
    ImageDraw.Draw(image).text((2 - ink[0], 2 - top), text, fill=255, font=face)
    mask = np.asarray(image)
    scale = height / max(1, body[3] - body[1])
    w = max(1, int(mask.shape[1] * scale * squeeze))
    h = max(1, int(mask.shape[0] * scale))
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA), (body[1] - top + 2) * scale


def _separator(kind: str, height: float) -> np.ndarray:
    h = max(2, int(height))
    mask = np.zeros((h, max(2, int(h * 0.35))), np.uint8)
    if kind == '-':
        mask[int(h * 0.45):int(h * 0.58), :] = 255
    else:
        cv2.circle(mask, (mask.shape[1] // 2, h // 2), max(1, h // 12), 255, -1)
    return mask


def _line_mask(text: str, font: Font, height: int) -> np.ndarray | None:
    face = font.load(max(12, height * 2))
    box = face.getbbox(text)
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    image = Image.new('L', (box[2] - box[0] + 4, box[3] - box[1] + 4))
    ImageDraw.Draw(image).text((2 - box[0], 2 - box[1]), text, fill=255, font=face)
    return np.asarray(image)


def _groups(printed: str) -> list[str]:
    """'AB-123 CD' -> ['AB', '-', '123', 'CD']."""
    out, current = [], ''
    for ch in printed:
        if ch in ' -·':
            if current:
                out.append(current)
            current = ''
            if ch != ' ':
                out.append(ch)
        else:
            current += ch
    return out + ([current] if current else [])


# -- regions --------------------------------------------------------------------
def _ru(c: _Canvas, rng) -> Plate:
    main = fill_pattern('L DDD LL', rng, CYRILLIC)
    region_code = fill_pattern('DD' if rng.random() < 0.6 else rng.choice(['1DD', '7DD']), rng)
    c.new(520, 112, WHITE)
    c.border(BLACK, 4)
    font = c.renderer.font('cyrillic', rng)
    split = 395
    c.rect((split, 6, split + 3, 106), BLACK)
    letters = _groups(main)
    c.text([letters[0], letters[1], letters[2]], (22, 22, split - 12, 92), BLACK, font, gap=0.12)
    c.text([region_code], (split + 10, 12, 512, 72), BLACK, font)
    c.small('RUS', (split + 12, 80, 465, 102), BLACK, font)
    for k, colour in enumerate((WHITE, (0, 57, 166), (213, 43, 30))):  # the flag
        c.rect((470, 82 + 6 * k, 500, 88 + 6 * k), colour)
    return Plate(c.img, label_of(main + region_code), 'RU')


def _kz(c: _Canvas, rng) -> Plate:
    main = fill_pattern('DDD LLL' if rng.random() < 0.8 else 'DDD LL', rng)
    region_code = f'{rng.integers(1, 21):02d}'
    c.new(520, 112, WHITE)
    c.border(BLACK, 4)
    font = c.renderer.font('latin', rng)
    c.rect((8, 8, 70, 104), (0, 175, 202))               # the flag's sky blue
    c.circle((39, 45), 16, YELLOW)
    c.small('KZ', (14, 70, 64, 100), WHITE, c.renderer.font('latin', rng))
    split = 430
    c.rect((split, 8, split + 3, 104), BLACK)
    c.text(_groups(main), (82, 20, split - 10, 94), BLACK, font, gap=0.25)
    c.text([region_code], (split + 8, 20, 510, 94), BLACK, font)
    return Plate(c.img, main.replace(' ', '') + region_code, 'KZ')


def _uk(c: _Canvas, rng) -> Plate:
    text = fill_pattern('LLDD LLL', rng, LATIN.replace('I', '').replace('Q', ''))
    rear = rng.random() < 0.5
    c.new(520, 111, YELLOW if rear else WHITE)
    font = c.renderer.font('latin', rng)
    left = 10
    if rng.random() < 0.4:
        c.eu_band(rng.choice(['GB', 'UK']), 50, stars=rng.random() < 0.5)
        left = 60
    c.text(_groups(text), (left + 12, 20, 508, 91), BLACK, font, gap=0.5, squeeze=(0.7, 0.95))
    return Plate(c.img, label_of(text), 'UK')


def _eu(c: _Canvas, rng) -> Plate:
    code = list(EU_COUNTRIES)[rng.integers(len(EU_COUNTRIES))]
    patterns = EU_COUNTRIES[code]
    text = fill_pattern(patterns[rng.integers(len(patterns))], rng)
    c.new(520, 112, YELLOW if code in ('NL', 'L') and rng.random() < 0.7 else WHITE)
    c.border(BLACK if code != 'B' else (160, 20, 30), 3)
    c.eu_band(code, 52)
    colour = (160, 20, 30) if code == 'B' else BLACK
    c.text(_groups(text), (66, 18, 508, 94), colour, c.renderer.font('latin', rng), gap=0.3)
    return Plate(c.img, label_of(text), 'EU')


def _de(c: _Canvas, rng) -> Plate:
    district = fill_pattern('L' * int(rng.integers(1, 4)), rng)
    letters = fill_pattern('L' * int(rng.integers(1, 3)), rng)
    digits = str(rng.integers(1, 10)) + fill_pattern('D' * int(rng.integers(0, min(4, 8 - len(district) - len(letters)))), rng)
    suffix = 'H' if rng.random() < 0.05 and len(district + letters + digits) < 8 else ''
    c.new(520, 110, WHITE)
    c.border(BLACK, 3)
    c.eu_band('D', 48)
    font = c.renderer.font('latin', rng)
    c.text([district], (56, 18, 56 + 52 * len(district), 92), BLACK, font, squeeze=(0.75, 0.95))
    seal_x = 56 + 52 * len(district) + 22
    c.circle((seal_x, 38), 17, (60, 110, 60))             # inspection sticker
    c.circle((seal_x, 76), 15, (150, 150, 150))           # state seal
    c.text([letters, digits + suffix], (seal_x + 26, 18, 508, 92), BLACK, font, gap=0.4, squeeze=(0.75, 0.95))
    return Plate(c.img, district + letters + digits + suffix, 'DE')


def _pl(c: _Canvas, rng) -> Plate:
    pattern = ['LL DDDDD', 'LL DDDDL', 'LLL DDDD', 'LLL DDLL', 'LL DDDLL'][rng.integers(5)]
    text = fill_pattern(pattern, rng)
    c.new(520, 114, WHITE)
    c.border(BLACK, 3)
    c.eu_band('PL', 50)
    c.text(_groups(text), (64, 18, 508, 94), BLACK, c.renderer.font('latin', rng), gap=0.45)
    return Plate(c.img, label_of(text), 'PL')


def _fr(c: _Canvas, rng) -> Plate:
    text = fill_pattern('LL-DDD-LL', rng)
    c.new(520, 110, WHITE)
    c.border(BLACK, 2)
    c.eu_band('F', 48)
    c.rect((472, 0, 520, 110), EU_BLUE)
    c.circle((496, 34), 14, (240, 240, 240))               # region logo
    c.small(f'{rng.integers(1, 96):02d}', (478, 60, 514, 98), WHITE, c.renderer.font('latin', rng))
    c.text(_groups(text), (60, 20, 462, 92), BLACK, c.renderer.font('latin', rng), gap=0.15)
    return Plate(c.img, label_of(text), 'FR')


def _czsk(c: _Canvas, rng) -> Plate:
    czech = rng.random() < 0.6
    text = (DIGITS[rng.integers(1, 10)] + fill_pattern('L', rng) + fill_pattern('A DDDD', rng)) if czech \
        else fill_pattern('LL-DDDLL', rng)
    c.new(520, 110, WHITE)
    c.border(BLACK, 3)
    c.eu_band('CZ' if czech else 'SK', 50)
    left = 62
    if not czech and rng.random() < 0.7:
        c.rect((118, 30, 140, 62), (200, 30, 40))          # the coat of arms
        c.rect((126, 36, 132, 56), WHITE)
    c.text(_groups(text), (left + 6, 18, 508, 92), BLACK, c.renderer.font('latin', rng), gap=0.35)
    return Plate(c.img, label_of(text), 'CZSK')


def _us(c: _Canvas, rng) -> Plate:
    state, pattern, colour, slogan = US_STATES[rng.integers(len(US_STATES))]
    text = fill_pattern(pattern, rng)
    c.new(300, 150, _jitter((235, 235, 235), rng, 20))
    if rng.random() < 0.5:   # a tinted background picture band
        c.rect((0, 95, 300, 130), _jitter((200, 210, 230), rng, 30))
    small_font = c.renderer.font('latin', rng)
    c.small(state, (40, 8, 260, 38), _jitter((170, 30, 40), rng, 40), small_font)
    c.text([text] if rng.random() < 0.6 else _groups(text[:3] + ' ' + text[3:]), (18, 44, 282, 112), colour,
           c.renderer.font('latin', rng), gap=0.25, squeeze=(0.6, 0.9))
    c.small(slogan, (40, 120, 260, 142), colour, small_font)
    if rng.random() < 0.5:   # registration stickers
        c.rect((8, 8, 40, 30), _jitter((80, 160, 60), rng, 60))
        c.rect((260, 8, 292, 30), _jitter((200, 60, 60), rng, 60))
    return Plate(c.img, text, 'US')


def _br(c: _Canvas, rng) -> Plate:
    text = fill_pattern('LLL-DDDD', rng)
    kind = rng.random()
    background, ink = ((190, 192, 195), BLACK) if kind < 0.8 else \
        ((190, 30, 30), WHITE) if kind < 0.93 else ((40, 120, 60), WHITE)
    c.new(400, 130, background)
    c.border(ink, 3)
    font = c.renderer.font('latin', rng)
    city = ['SP - SAO PAULO', 'RJ - RIO DE JANEIRO', 'MG - BELO HORIZONTE', 'PR - CURITIBA', 'RS - PORTO ALEGRE',
            'BA - SALVADOR', 'SC - FLORIANOPOLIS', 'GO - GOIANIA'][rng.integers(8)]
    c.small(city, (40, 8, 360, 30), ink, font)
    c.text(_groups(text), (16, 38, 384, 118), ink, font, gap=0.12, squeeze=(0.7, 0.95))
    return Plate(c.img, label_of(text), 'BR')


def _brm(c: _Canvas, rng) -> Plate:
    text = fill_pattern('LLLDLDD', rng)
    c.new(400, 130, WHITE)
    c.border(BLACK, 3)
    c.rect((4, 4, 396, 34), (0, 60, 160))
    c.small('BRASIL', (150, 8, 250, 30), WHITE, c.renderer.font('latin', rng))
    c.rect((360, 10, 388, 28), (0, 150, 60))               # the flag
    c.circle((374, 19), 6, YELLOW)
    c.small('BR', (10, 90, 40, 120), BLACK, c.renderer.font('latin', rng))
    c.text([text], (44, 44, 380, 120), BLACK, c.renderer.font('latin', rng), squeeze=(0.75, 0.95))
    return Plate(c.img, text, 'BRM')


def _cn(c: _Canvas, rng) -> Plate:
    province = CN_PROVINCES[rng.integers(len(CN_PROVINCES))]
    letter = CN_LETTERS[rng.integers(len(CN_LETTERS))]
    green = rng.random() < 0.2
    tail = ('DF'[rng.integers(2)] + fill_pattern('DDDDD', rng)) if green else \
        ''.join((CN_LETTERS + DIGITS * 3)[rng.integers(len(CN_LETTERS) + 30)] for _ in range(5))
    c.new(440, 140, (120, 210, 140) if green else (10, 60, 190))
    ink = BLACK if green else WHITE
    c.border(ink, 4, 5)
    cjk = c.renderer.font('cjk', rng)
    font = c.renderer.font('latin', rng)
    c.text([(province, cjk), letter, '·', tail], (18, 24, 422, 116), ink, font, gap=0.12, squeeze=(0.7, 0.9))
    return Plate(c.img, province + letter + tail, 'CN')


def _th(c: _Canvas, rng) -> Plate:
    prefix = str(rng.integers(1, 10)) if rng.random() < 0.5 else ''
    consonants = ''.join(THAI[rng.integers(len(THAI))] for _ in range(2))
    number = str(rng.integers(1, 10000))
    c.new(340, 150, WHITE)
    c.border(BLACK, 3)
    font = c.renderer.font('thai', rng)
    groups = ([prefix] if prefix else []) + [(consonants, font), number]
    c.text(groups, (16, 14, 324, 84), BLACK, font, gap=0.18, squeeze=(0.75, 1.0))
    province = THAI_PROVINCES[rng.integers(len(THAI_PROVINCES))]
    c.small(province, (40, 96, 300, 140), BLACK, font)
    return Plate(c.img, prefix + consonants + number, 'TH')


_DRAWERS = {'KZ': _kz, 'RU': _ru, 'UK': _uk, 'EU': _eu, 'DE': _de, 'PL': _pl, 'FR': _fr, 'CZSK': _czsk,
            'US': _us, 'BR': _br, 'BRM': _brm, 'CN': _cn, 'TH': _th}
