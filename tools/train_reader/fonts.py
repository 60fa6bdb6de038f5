"""Plate fonts: the system's font files sorted by the scripts they cover,
split into training fonts and held-out test fonts.

The fonts come from Debian packages (``setup.sh`` installs them; licences in
MODEL_CARD.md). A font counts for a script only if it draws every character
the plates need in it (a missing glyph renders as the font's "notdef" box).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .alphabet import CN_PROVINCES, CYRILLIC, DIGITS, LATIN, THAI

FONT_ROOTS = (Path('/usr/share/fonts'),)
SCRIPTS = {'latin': DIGITS + LATIN, 'cyrillic': DIGITS + CYRILLIC, 'thai': DIGITS + THAI, 'cjk': CN_PROVINCES}
# Styles that no plate uses.
_SKIP = re.compile(r'italic|oblique|thin|light|math|purisa|typewriter|mono-?oblique|PTZ|PTF5[56]', re.I)
# Held out of training: the generated test set is drawn in these alone.
TEST_FONTS = ('Arimo-Bold', 'PTN77F', 'RobotoCondensed-Medium', 'Hack-Bold', 'Waree-Bold', 'Norasi-Bold',
              'uming')
_PROBE = '\U0010FFFD'   # never in a font: renders as notdef


@dataclass(frozen=True)
class Font:
    path: str
    index: int = 0      # face in a .ttc collection

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        return _load(self.path, self.index, size)


@functools.lru_cache(maxsize=512)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _glyph(face: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    image = Image.new('L', (64, 64))
    ImageDraw.Draw(image).text((4, 4), ch, fill=255, font=face)
    return np.asarray(image)


def covers(font: Font, chars: str) -> bool:
    face = font.load(40)
    missing = _glyph(face, _PROBE)
    for ch in chars:
        glyph = _glyph(face, ch)
        if not glyph.any() or np.array_equal(glyph, missing):
            return False
    return True


def font_files(roots=FONT_ROOTS) -> list[Font]:
    files = sorted(p for root in roots if root.is_dir() for p in root.rglob('*')
                   if p.suffix.lower() in ('.ttf', '.otf', '.ttc'))
    return [Font(str(p)) for p in files if not _SKIP.search(p.stem)]


@functools.lru_cache(maxsize=2)
def font_pools(held_out: bool) -> dict[str, list[Font]]:
    """script -> fonts covering it; the test fonts when held_out, the others otherwise."""
    pools: dict[str, list[Font]] = {s: [] for s in SCRIPTS}
    for font in font_files():
        if (font.name in TEST_FONTS) != held_out:
            continue
        try:
            for script, chars in SCRIPTS.items():
                if covers(font, chars):
                    pools[script].append(font)
        except OSError:
            continue
    empty = [s for s, fonts in pools.items() if not fonts]
    if empty:
        which = 'test' if held_out else 'training'
        raise RuntimeError(f'no {which} font covers {", ".join(empty)}: run tools/train_reader/setup.sh')
    return pools
