"""Plate text in one place: how it is normalised and folded, which glyphs
plate fonts draw alike, and the layouts of each region.

Used by the OCR (formats, readers), the recorder (which reads belong to one
pass), the synthetic camera (which plates it can draw) and the evaluation
tools (scoring), so that all of them agree on what "the same plate" means.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# -- normalising ---------------------------------------------------------------
SEPARATORS = frozenset(' -–—.·•:_|/\\\t')


def normalise_char(ch: str) -> str:
    """Upper-case letter or digit (any script); '' for separators and punctuation."""
    if ch in SEPARATORS:
        return ''
    ch = unicodedata.normalize('NFKC', ch).upper()
    return ch if len(ch) == 1 and ch.isalnum() else ''


def compact(text: str) -> str:
    """Plate text as compared: ``'ls15-EBC'`` -> ``'LS15EBC'``."""
    return ''.join(normalise_char(ch) for ch in text)


def fold_label_quirks(text: str) -> str:
    """Compact, with O->0 and I->1: datasets write the letter where the plate
    shows the digit (``RKO99AN``); scores are given strict and folded."""
    return compact(text).replace('O', '0').replace('I', '1')


# -- glyphs drawn alike ------------------------------------------------------------
# Letter <-> digit pairs that plate fonts draw alike, with how much of a
# recogniser's confidence survives the swap: O/0 are often the same glyph,
# A/4 rarely. The OCR coerces through them only where a layout demands the
# other class.
GLYPH_PAIRS: dict[tuple[str, str], float] = {
    ('O', '0'): 0.9, ('I', '1'): 0.8, ('Z', '2'): 0.6, ('S', '5'): 0.6, ('B', '8'): 0.6,
    ('G', '6'): 0.5, ('D', '0'): 0.5, ('Q', '0'): 0.5, ('T', '1'): 0.3, ('L', '1'): 0.3,
    ('J', '1'): 0.3, ('U', '0'): 0.3, ('A', '4'): 0.3, ('E', '3'): 0.3, ('T', '7'): 0.3}
CONFUSABLE: dict[str, dict[str, float]] = {}
for (_a, _b), _w in GLYPH_PAIRS.items():
    CONFUSABLE.setdefault(_a, {})[_b] = _w
    CONFUSABLE.setdefault(_b, {})[_a] = _w

# Twins folded together when deciding whether two reads are the same plate
# (the recorder's passes): the pairs a reader confuses most, each side of a
# pair to one character. Every fold is one of GLYPH_PAIRS (tested).
TWIN_FOLD = str.maketrans('O0QDIL1BSZG', '00001118526')


def twin_fold(text: str) -> str:
    return text.translate(TWIN_FOLD)


# Cyrillic letters used on RU/KZ plates, which have Latin twins of the same shape.
CYRILLIC_PLATE_LETTERS = 'АВЕКМНОРСТУХ'
CYRILLIC_TO_LATIN = dict(zip(CYRILLIC_PLATE_LETTERS, 'ABEKMHOPCTYX'))
LATIN_TO_CYRILLIC = {latin: cyr for cyr, latin in CYRILLIC_TO_LATIN.items()}


def to_latin(text: str) -> str:
    """Cyrillic plate letters as their Latin twins (ASCII for systems that need it)."""
    return ''.join(CYRILLIC_TO_LATIN.get(ch, ch) for ch in text)


# -- layouts -------------------------------------------------------------------------
LATIN = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZ')
DIGITS = frozenset('0123456789')
CYRILLIC_LATIN = frozenset('ABEKMHOPCTYX')   # Latin letters with a Cyrillic twin (RU/KZ use only these)
CN_PROVINCES = frozenset('京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼')

CLASSES = {
    'L': LATIN,
    'D': DIGITS,
    'A': LATIN | DIGITS,
    'R': CYRILLIC_LATIN,
    'C': CN_PROVINCES,
    'N': frozenset('DF'),   # CN new-energy marker
}


@dataclass(frozen=True)
class PlateFormat:
    region: str
    name: str
    pattern: str  # characters of CLASSES

    def __len__(self) -> int:
        return len(self.pattern)

    def fits(self, text: str) -> bool:
        """``text`` (compact, Latin) fits as it is, nothing coerced."""
        return len(text) == len(self.pattern) and all(ch in CLASSES[c] for ch, c in zip(text, self.pattern))


def _f(region: str, name: str, *patterns: str) -> list[PlateFormat]:
    return [PlateFormat(region, name if len(patterns) == 1 else f'{name}{i + 1}', p)
            for i, p in enumerate(patterns)]


FORMATS: dict[str, list[PlateFormat]] = {
    'UK': _f('UK', 'uk-2001', 'LLDDLLL'),
    'KZ': _f('KZ', 'kz-2012', 'DDDLLLDD', 'DDDLLDD'),
    'RU': _f('RU', 'ru-private', 'RDDDRRDD', 'RDDDRRDDD'),
    'SK': _f('SK', 'sk', 'LLDDDLL'),
    'CZ': _f('CZ', 'cz', 'DLDDDDD', 'DLLDDDD'),
    # district (1-3 letters) + 1-2 letters + 1-4 digits, at most 8 characters
    'DE': _f('DE', 'de', *sorted({'L' * n + 'D' * d for n in range(2, 6) for d in range(1, 5) if n + d <= 8})),
    'FR': _f('FR', 'fr-siv', 'LLDDDLL'),
    'BR': _f('BR', 'br-old', 'LLLDDDD') + _f('BR', 'br-mercosur', 'LLLDLDD'),
    # the commonest passenger formats (NY/PA/TX..., CA, older 6-character ones)
    'US': _f('US', 'us', 'LLLDDDD', 'DLLLDDD', 'LLLDDD', 'DDDLLL'),
    # regular, new-energy small (D/F third) and large (D/F last)
    'CN': _f('CN', 'cn', 'CLAAAAA') + _f('CN', 'cn-ev', 'CLNAAAAA', 'CLDDDDDN'),
    # 2-letter district + 5, 3-letter district + 4 (the common patterns)
    'PL': _f('PL', 'pl', 'LLDDDDD', 'LLDDDDL', 'LLDDDLL', 'LLLDDDD', 'LLLDDLL', 'LLLDLDD', 'LLLDDDL'),
}
# Groups accepted wherever regions are listed.
GROUPS = {'EU': ('UK', 'SK', 'CZ', 'DE', 'FR', 'PL')}
ALL_REGIONS = tuple(FORMATS)


def expand_regions(regions) -> tuple[str, ...]:
    """Region codes with groups (EU) expanded, in order, without repeats."""
    out: list[str] = []
    for r in regions:
        for code in GROUPS.get(r.upper(), (r.upper(),)):
            if code not in out:
                out.append(code)
    return tuple(out)


def fits_region(region: str, text: str) -> bool:
    """``text`` (compact; Cyrillic letters count as their Latin twins) fits one
    of ``region``'s layouts as it is."""
    latin = to_latin(text)
    return any(f.fits(latin) for f in FORMATS.get(region, ()))
