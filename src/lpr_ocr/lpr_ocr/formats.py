"""Region plate formats and format-aware candidates.

A format is a sequence of character classes. A read that almost fits (an
``I`` where the format wants a digit) is coerced through the confusable
pairs, at a cost, and the runner-up characters of the recogniser are
preferred when they fit. Candidates are ranked by the recogniser's
confidence times how well they fit.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
from dataclasses import dataclass

from lpr_common.plate_text import (ALL_REGIONS, CLASSES, CN_PROVINCES, CONFUSABLE, CYRILLIC_TO_LATIN, FORMATS,
                                   PlateFormat, expand_regions, normalise_char)
from lpr_ocr.base import Candidate, PlateText, TextLine


def _regions_per_pattern(formats) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in formats:
        out.setdefault(f.pattern, set()).add(f.region)
    return out


class FormatPrior:
    """Which plate layouts this camera sees, learned online from reads that fit
    a format as read (nothing coerced). It breaks near-ties between layouts
    that fit a read about equally well: a Brazilian ``NTO1053`` read as
    ``NT01053`` fits a Polish ``LLDDDDD`` exactly and the Brazilian ``LLLDDDD``
    after one O/0 swap; a camera that has seen many ``LLLDDDD`` plates and no
    ``LLDDDDD`` prefers the former. Layouts never seen lose ``weight``."""

    def __init__(self, formats: list[PlateFormat] = (), window: int = 200, weight: float = 0.05):
        self.weight = weight
        self._votes: collections.deque = collections.deque(maxlen=window)
        # Start from a world prior: a layout used by more of the configured
        # regions is likelier. The camera's own reads push these out.
        for pattern, regions in _regions_per_pattern(formats).items():
            self._votes.extend([pattern] * len(regions))

    def factor(self, pattern: str) -> float:
        if not self._votes:
            return 1.0
        counts = collections.Counter(self._votes)
        return 1.0 - self.weight * (1.0 - counts.get(pattern, 0) / max(counts.values()))

    def observe(self, pattern: str) -> None:
        self._votes.append(pattern)


class FormatMatcher:
    """Ranks readings of one plate against the formats of the allowed regions."""

    def __init__(self, regions: list[str] | tuple[str, ...] = ('auto',), top_n: int = 5,
                 unmatched_factor: float = 0.85, learn_formats: bool = True):
        wanted = ALL_REGIONS if not regions or 'auto' in regions else expand_regions(regions)
        unknown = [r for r in wanted if r not in FORMATS]
        if unknown:
            raise ValueError(f'unknown region(s) {", ".join(unknown)} (known: {", ".join(ALL_REGIONS)})')
        self.formats = [f for r in wanted for f in FORMATS[r]]
        self._by_length: dict[tuple[int, bool], list[PlateFormat]] = {}   # (length, province) -> formats
        for f in self.formats:
            for province in (True, False):
                if province or 'C' not in f.pattern:
                    self._by_length.setdefault((len(f), province), []).append(f)
        self.top_n = top_n
        self.unmatched_factor = unmatched_factor
        self.prior = (FormatPrior(self.formats) if learn_formats and len({f.pattern for f in self.formats}) > 1
                      else None)

    def rank(self, *reads: PlateText, learn: bool = True, province: bool = True) -> PlateText:
        """The best reading over one or more views of the same plate, with
        text/region/format/candidates chosen by format fit. ``province=False``
        leaves out layouts that start with a Chinese province character;
        ``learn=False`` keeps the layout prior as it is."""
        options: dict[str, _Option] = {}
        for read in reads:
            if read.text:
                self._collect(read, options, province)
        return self._best(options, learn)

    def fuse(self, primary: PlateText, generals: tuple[PlateText, ...], primary_alphabet: frozenset | None,
             learn: bool = True, province: bool = True, single_factor: float = 0.8) -> PlateText:
        """Two readers, one answer. Where a view of the general reader has as
        many characters as the plate reader's read (or one more at either end),
        the two are merged per character: each character's probability is the
        mean over the readers that can emit it, so where they agree the read
        stays sure and where they disagree it loses about half. Each reader's
        read also competes alone, scaled by ``single_factor``; the region
        formats pick among all of them."""
        options: dict[str, _Option] = {}
        for general in generals:
            fused = _fuse(primary, general, primary_alphabet)
            if fused is not None:
                self._collect(fused, options, province, 1.0)
        for read in (primary, *generals):
            if read.text:
                self._collect(read, options, province, single_factor)
        return self._best(options, learn)

    def _best(self, options: dict, learn: bool) -> PlateText:
        if not options:
            return PlateText.empty()
        ranked = sorted(options.values(), key=self._rank_key, reverse=True)[:self.top_n]
        best = ranked[0]
        if learn and self.prior is not None and best.exact and best.score >= 0.8:
            self.prior.observe(best.fmt.pattern)
        source = best.source
        candidates = tuple(Candidate(o.text, o.score, o.region, o.format_name) for o in ranked)
        return PlateText(best.text, best.score, best.confs, source.raw_text, candidates,
                         best.region, best.format_name, source.lines)

    @property
    def has_province_layouts(self) -> bool:
        return any('C' in f.pattern for f in self.formats)

    def _rank_key(self, option: '_Option') -> float:
        if self.prior is None or option.fmt is None:
            return option.score
        return option.score * self.prior.factor(option.fmt.pattern)

    def _collect(self, read: PlateText, options: dict, province: bool = True, factor: float = 1.0) -> None:
        alts = _alternatives(read)
        for text, confs, text_alts, dropped in _variants(read.text, read.char_confidences, alts):
            for fmt in self._by_length.get((len(text), province), ()):
                fitted = _fit(text, confs, text_alts, fmt)
                if fitted:
                    option = _Option.make(fitted[0], fitted[1], fmt, dropped, read, factor)
                    if not dropped and fitted[0] == text:
                        option = dataclasses.replace(option, exact=True)
                    _keep_best(options, option)
        if not province and any(ch in CN_PROVINCES for ch in read.text):
            return   # a province character outside a province layout is no plate text either
        plain = tuple(c * self.unmatched_factor for c in read.char_confidences)
        _keep_best(options, _Option.make(read.text, plain, None, (), read, factor))


@dataclass(frozen=True)
class _Option:
    text: str
    confs: tuple[float, ...]
    fmt: PlateFormat | None
    score: float
    source: PlateText
    exact: bool = False   # fits its format as read: nothing coerced or trimmed

    @staticmethod
    def make(text, confs, fmt, dropped: tuple[float, ...], source: PlateText, factor: float = 1.0) -> '_Option':
        # A dropped character counts as a character with half the opposite of
        # its confidence: trimming a confidently read character costs a lot, a
        # doubtful border mark little, a half-sure character about as much as
        # coercing it would.
        support = list(confs) + [(1.0 - c) / 2 for c in dropped]
        score = factor * sum(support) / len(support) if support else 0.0
        return _Option(text, tuple(c * factor for c in confs), fmt, score, source)

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
                alts.append({n: p for n, p in ((_norm(c), p) for c, p in runner_ups) if n})
    return alts if len(alts) == len(read.text) else [{} for _ in read.text]


def _distribution(ch: str, conf: float, alts: dict[str, float]) -> dict[str, float]:
    out = dict(alts)
    out[ch] = max(conf, out.get(ch, 0.0))
    return out


def _fuse(primary: PlateText, general: PlateText, primary_alphabet: frozenset | None) -> PlateText | None:
    """One read from two of the same plate, merged per character (see
    ``FormatMatcher.fuse``); None where no alignment of equal length exists.
    The general read may carry one extra character at either end (a bolt, a
    frame edge), which is dropped for the alignment."""
    p_text, g_text = primary.text, general.text
    if not p_text or not g_text:
        return None
    g_alts = _alternatives(general)
    g_confs = general.char_confidences
    if len(g_text) == len(p_text) + 1:
        # drop the weaker end of the general read
        cut = 0 if g_confs[0] <= g_confs[-1] else len(g_text) - 1
        keep = [i for i in range(len(g_text)) if i != cut]
        g_text = ''.join(g_text[i] for i in keep)
        g_confs = tuple(g_confs[i] for i in keep)
        g_alts = [g_alts[i] for i in keep]
    if len(g_text) != len(p_text):
        return None
    p_alts = _alternatives(primary)
    chars, confs, alts = [], [], []
    for i in range(len(p_text)):
        p = _distribution(_norm(p_text[i]) or p_text[i], primary.char_confidences[i], p_alts[i])
        g = _distribution(_norm(g_text[i]) or g_text[i], g_confs[i], g_alts[i])
        merged = {}
        for ch in set(p) | set(g):
            voters = [g.get(ch, 0.0)]
            if primary_alphabet is None or ch in primary_alphabet:
                voters.append(p.get(ch, 0.0))
            merged[ch] = sum(voters) / len(voters)
        ranked = sorted(merged.items(), key=lambda kv: kv[1], reverse=True)
        chars.append(ranked[0][0])
        confs.append(ranked[0][1])
        alts.append(tuple(ranked[1:4]))
    text = ''.join(chars)
    line = TextLine(text, tuple(confs), (0.0, 0.0, 0.0, 0.0), tuple(alts))
    return PlateText(text, sum(confs) / len(confs), tuple(confs), f'{primary.raw_text} | {general.raw_text}',
                     lines=(line,))


def _norm(ch: str) -> str:
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
    """Coerce ``text`` into ``fmt``: (text, per-character confidences) or None."""
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
        # The recogniser's own runner-ups, and the glyph twins of the read
        # character at a cost; the likeliest one the format allows wins.
        options = {c: p for c, p in alts[i].items() if c in allowed}
        for twin, keep in CONFUSABLE.get(ch, {}).items():
            if twin in allowed:
                options[twin] = max(options.get(twin, 0.0), confs[i] * keep)
        if not options:
            return None
        best = max(options, key=options.get)
        out.append(best)
        out_conf.append(options[best])
    return ''.join(out), tuple(out_conf)


