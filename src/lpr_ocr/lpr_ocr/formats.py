"""Region plate formats and format-aware candidates.

A format is a sequence of character classes. A read that almost fits (an
``I`` where the format wants a digit) is coerced through the confusable
pairs, at a cost, and the runner-up characters of the recogniser are
preferred when they fit. Candidates are ranked by the recogniser's
confidence times how well they fit.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from lpr_ocr.base import Candidate, PlateText

LATIN = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZ')
DIGITS = frozenset('0123456789')
# Letters that exist in both Cyrillic and Latin shapes (RU/UA/KZ plates use only these).
CYRILLIC_LATIN = frozenset('ABEKMHOPCTYX')
CN_PROVINCES = frozenset('京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼')

CLASSES = {
    'L': LATIN,
    'D': DIGITS,
    'A': LATIN | DIGITS,
    'R': CYRILLIC_LATIN,
    'C': CN_PROVINCES,
}

# letter <-> digit confusions of plate fonts, both directions
TO_DIGIT = {'O': '0', 'Q': '0', 'D': '0', 'U': '0', 'I': '1', 'L': '1', 'T': '1', 'J': '1',
            'Z': '2', 'S': '5', 'B': '8', 'G': '6', 'A': '4', 'E': '3'}
TO_LETTER = {'0': 'O', '1': 'I', '2': 'Z', '5': 'S', '8': 'B', '6': 'G', '4': 'A', '3': 'E', '7': 'T'}
# Cyrillic glyphs an OCR trained on Cyrillic might emit -> their Latin twins.
CYRILLIC_TO_LATIN = dict(zip('АВЕКМНОРСТУХ', 'ABEKMHOPCTYX'))

COERCE_COST = 0.5  # confidence factor for a character changed by the confusion table


@dataclass(frozen=True)
class PlateFormat:
    region: str
    name: str
    pattern: str  # characters of CLASSES

    def __len__(self) -> int:
        return len(self.pattern)


def _f(region: str, name: str, *patterns: str) -> list[PlateFormat]:
    return [PlateFormat(region, name if len(patterns) == 1 else f'{name}{i + 1}', p)
            for i, p in enumerate(patterns)]


FORMATS: dict[str, list[PlateFormat]] = {
    'UK': _f('UK', 'uk-2001', 'LLDDLLL'),
    'KZ': _f('KZ', 'kz-2012', 'DDDLLLDD', 'DDDLLDD'),
    'RU': _f('RU', 'ru-private', 'RDDDRRDD', 'RDDDRRDDD'),
    'SK': _f('SK', 'sk', 'LLDDDLL', 'LLLDDDLL'),
    'CZ': _f('CZ', 'cz', 'DLDDDDD', 'DLLDDDD'),
    'DE': _f('DE', 'de', 'LLDDDD', 'LLLDDDD', 'LLDDD', 'LLLDDD', 'LLLDD', 'LLDD', 'LDDDD',
             'LLLLDDD', 'LLLLDD', 'LDDD', 'LLLLLDDD'),
    'FR': _f('FR', 'fr-siv', 'LLDDDLL'),
    'BR': _f('BR', 'br-old', 'LLLDDDD') + _f('BR', 'br-mercosur', 'LLLDLDD'),
    'US': _f('US', 'us', 'LLLDDDD', 'DLLLDDD', 'LLLDDD', 'DLLDDD', 'DDDLLL', 'LLDDDDD'),
    'CN': _f('CN', 'cn', 'CLAAAAA', 'CLAAAAAA'),
}
ALL_REGIONS = tuple(FORMATS)


class FormatMatcher:
    """Ranks readings of one plate against the formats of the allowed regions."""

    def __init__(self, regions: list[str] | tuple[str, ...] = ('auto',), top_n: int = 5,
                 unmatched_factor: float = 0.85):
        wanted = ALL_REGIONS if not regions or 'auto' in regions else tuple(r.upper() for r in regions)
        unknown = [r for r in wanted if r not in FORMATS]
        if unknown:
            raise ValueError(f'unknown region(s) {", ".join(unknown)} (known: {", ".join(ALL_REGIONS)})')
        self.formats = [f for r in wanted for f in FORMATS[r]]
        self.top_n = top_n
        self.unmatched_factor = unmatched_factor

    def rank(self, read: PlateText) -> PlateText:
        """Return ``read`` with text/region/format/candidates chosen by format fit."""
        if not read.text:
            return read
        alts = _alternatives(read)
        options: dict[str, _Option] = {}
        for text, confs, text_alts, dropped in _variants(read.text, read.char_confidences, alts):
            for fmt in self.formats:
                fitted = _fit(text, confs, text_alts, fmt)
                if fitted:
                    _keep_best(options, _Option.make(fitted[0], fitted[1], fmt, dropped))
        plain = tuple(c * self.unmatched_factor for c in read.char_confidences)
        _keep_best(options, _Option.make(read.text, plain, None, ()))
        ranked = sorted(options.values(), key=lambda o: o.score, reverse=True)[:self.top_n]
        best = ranked[0]
        candidates = tuple(Candidate(o.text, o.score, o.region, o.format_name) for o in ranked)
        return PlateText(best.text, best.score, best.confs, read.raw_text, candidates,
                         best.region, best.format_name, read.lines)


@dataclass(frozen=True)
class _Option:
    text: str
    confs: tuple[float, ...]
    fmt: PlateFormat | None
    score: float

    @staticmethod
    def make(text, confs, fmt, dropped: tuple[float, ...]) -> '_Option':
        # A dropped character counts as a character with the opposite of its
        # confidence: trimming a confidently read character costs a lot,
        # trimming a doubtful border mark almost nothing.
        support = list(confs) + [1.0 - c for c in dropped]
        return _Option(text, tuple(confs), fmt, sum(support) / len(support) if support else 0.0)

    @property
    def region(self) -> str:
        return self.fmt.region if self.fmt else ''

    @property
    def format_name(self) -> str:
        return self.fmt.name if self.fmt else ''


def _keep_best(options: dict, option: _Option) -> None:
    held = options.get(option.text)
    if held is None or option.score > held.score:
        options[option.text] = option


def _alternatives(read: PlateText) -> list[dict[str, float]]:
    """Per character of read.text: runner-up characters and their probabilities."""
    alts: list[dict[str, float]] = []
    for line in read.lines:
        for ch, runner_ups in itertools.zip_longest(line.text, line.alternatives, fillvalue=()):
            if ch and _norm(ch):
                alts.append({_norm(c): p for c, p in runner_ups if _norm(c)})
    return alts if len(alts) == len(read.text) else [{} for _ in read.text]


def _norm(ch: str) -> str:
    from lpr_ocr.reader import normalise_char
    ch = normalise_char(ch)
    return CYRILLIC_TO_LATIN.get(ch, ch)


def _variants(text: str, confs: tuple[float, ...], alts):
    """The read itself and the read with one weak character dropped at either end
    (plate borders and bolts are often read as I, 1 or |)."""
    yield text, confs, alts, ()
    if len(text) > 4:
        yield text[1:], confs[1:], alts[1:], confs[:1]
        yield text[:-1], confs[:-1], alts[:-1], confs[-1:]


def _fit(text: str, confs, alts, fmt: PlateFormat):
    if len(text) != len(fmt):
        return None
    out, out_conf = [], []
    for i, (ch, cls) in enumerate(zip(text, fmt.pattern)):
        allowed = CLASSES[cls]
        ch = CYRILLIC_TO_LATIN.get(ch, ch)
        if ch in allowed:
            out.append(ch)
            out_conf.append(confs[i])
            continue
        runner = _best_allowed(alts[i], allowed)
        mapped = (TO_DIGIT if cls == 'D' else TO_LETTER).get(ch)
        # The model's own runner-up wins when it ranked the table's guess too,
        # or when it is likelier than a table coercion is worth.
        if runner and (not mapped or mapped in alts[i] or runner[1] >= confs[i] * COERCE_COST):
            out.append(runner[0])
            out_conf.append(runner[1])
        elif mapped and mapped in allowed:
            out.append(mapped)
            out_conf.append(confs[i] * COERCE_COST)
        else:
            return None
    return ''.join(out), tuple(out_conf)


def _best_allowed(alts: dict[str, float], allowed) -> tuple[str, float] | None:
    fits = [(c, p) for c, p in alts.items() if c in allowed]
    return max(fits, key=lambda cp: cp[1]) if fits else None
