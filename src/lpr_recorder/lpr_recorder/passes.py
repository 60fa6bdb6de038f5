"""Plate reads -> vehicle passes -> one event per pass (no ROS, no I/O here).

A pass is a track: the reads of one plate on one camera. A read joins an
open pass when its box can be the track's (not too far from the last box)
and its text is compatible with the pass's (equal but for glyph twins, one
character off, or a part of it seen through a partial view). A read whose
text is not compatible but whose box sits where the track's last box was
joins as a possible misread; when ``split_reads`` such reads in a row agree
with each other, each sure (``split_confidence``), a new vehicle has taken
the old one's place (a queue at a barrier): they leave for a new pass. A
pass ends when no read has joined it for ``gap_s``. The pass's text is a
confidence-weighted vote, per character over the reads of its main text
cluster (never across different plates), of the winning length. A preview decision is emitted as soon as ``preview_reads`` reads
agree (for gates); the final decision when the pass ends. A plate seen again
within ``repeat_window_s`` of its pass's end rejoins that pass instead of
making a new event, when the two are equal but for glyph twins (O/0, I/1,
B/8...): two cars whose plates differ in a real character stay two events.
Direction of travel comes from the plate's growth along the track.
"""
from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from lpr_common.plate_text import twin_fold
from lpr_recorder.config import RecorderConfig

PREVIEW, FINAL = 'preview', 'final'


@dataclass(frozen=True)
class PassConfig:
    # The node's parameters (lpr_recorder.config, with their descriptions) give the defaults.
    gap_s: float = RecorderConfig.gap_s
    min_reads: int = RecorderConfig.min_reads
    min_confidence: float = RecorderConfig.min_confidence
    min_length: int = RecorderConfig.min_length
    match_distance: int = RecorderConfig.match_distance
    preview_reads: int = RecorderConfig.preview_reads
    preview_timeout_s: float = RecorderConfig.preview_timeout_s
    repeat_window_s: float = RecorderConfig.repeat_window_s
    max_pass_s: float = RecorderConfig.max_pass_s
    # Tuning of the pass logic itself, not node parameters:
    track_jump: float = 2.5       # a box moving more than this many plate widths between reads is another vehicle
    split_reads: int = 2          # this many agreeing, sure reads of another plate on a track start a new pass
    split_confidence: float = 0.8 # how sure each of those reads must be


@dataclass(frozen=True)
class Observation:
    """One plate read in one frame, with whatever the caller wants kept for the best one."""
    camera_id: str
    stamp_ns: int
    text: str
    confidence: float
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    char_confidences: tuple[float, ...] = ()
    region: str = ''
    format: str = ''
    payload: Any = field(default=None, compare=False, repr=False)


@dataclass
class Pass:
    event_id: str
    camera_id: str
    first_ns: int
    last_ns: int
    reads: list[Observation] = field(default_factory=list)          # payloads stripped
    best_by_text: dict[str, Observation] = field(default_factory=dict)  # with payloads
    preview_sent: bool = False
    closed_ns: int | None = None
    emitted: bool = False
    last_box: tuple[float, float, float, float] | None = None
    divergent: list[Observation] = field(default_factory=list)  # latest sure reads of another plate
    match_distance: int = 1
    text_totals: Counter = field(default_factory=Counter)   # text -> summed confidence of its reads
    text_counts: Counter = field(default_factory=Counter)   # text -> reads
    _voted: tuple[str, float] | None = None

    def add(self, obs: Observation, fits: bool = True) -> None:
        """Take a read; one whose text does not fit (a misread, or the next
        vehicle) neither moves the track nor keeps the pass open."""
        self.reads.append(_strip(obs))
        self.text_totals[obs.text] += obs.confidence
        self.text_counts[obs.text] += 1
        if fits and obs.box[2] > 0 and obs.stamp_ns >= self.last_ns:
            self.last_box = obs.box
        if fits:
            self.last_ns = max(self.last_ns, obs.stamp_ns)
        self.first_ns = min(self.first_ns, obs.stamp_ns)
        held = self.best_by_text.get(obs.text)
        if held is None or obs.confidence > held.confidence:
            self.best_by_text[obs.text] = obs
        self._voted = None

    @property
    def voted(self) -> tuple[str, float]:
        if self._voted is None:
            members = self.cluster_texts()
            self._voted = vote_totals({t: self.text_totals[t] for t in members}, self.text_counts)
        return self._voted

    def cluster_texts(self) -> set[str]:
        """The texts of the pass's main plate: those compatible with the text
        that has the most confidence behind it (glyph twins folded)."""
        folded: Counter = Counter()
        for text, total in self.text_totals.items():
            folded[twin_fold(text)] += total
        if not folded:
            return set()
        anchor = max(folded, key=lambda t: (folded[t], len(t)))
        return {t for t in self.text_totals if compatible(twin_fold(t), anchor, self.match_distance, folded=True)}

    def cluster(self) -> list[Observation]:
        """The reads of the pass's main plate (see ``cluster_texts``)."""
        members = self.cluster_texts()
        return [r for r in self.reads if r.text in members]

    def cluster_size(self) -> int:
        return sum(self.text_counts[t] for t in self.cluster_texts())

    def remove(self, reads: list[Observation]) -> None:
        ids = {id(r) for r in reads}
        self.reads = [r for r in self.reads if id(r) not in ids]
        for r in reads:
            self.text_totals[r.text] -= r.confidence
            self.text_counts[r.text] -= 1
            if self.text_counts[r.text] <= 0:
                del self.text_totals[r.text], self.text_counts[r.text]
        for text in {r.text for r in reads}:
            if not any(r.text == text for r in self.reads):
                self.best_by_text.pop(text, None)
        kept = [r for r in self.reads if r.box[2] > 0]
        if kept:
            last = max(kept, key=lambda r: r.stamp_ns)
            self.last_box = last.box
        if self.reads:
            self.last_ns = max(r.stamp_ns for r in self.reads)
        self._voted = None

    @property
    def text(self) -> str:
        return self.voted[0]

    def best_evidence(self, text: str) -> Observation:
        """The most confident read saying ``text`` (else the most confident of all)."""
        if text in self.best_by_text:
            return self.best_by_text[text]
        return max(self.best_by_text.values(), key=lambda r: r.confidence)


@dataclass(frozen=True)
class Decision:
    stage: str                # PREVIEW or FINAL
    event_id: str
    camera_id: str
    text: str
    confidence: float
    first_ns: int
    last_ns: int
    read_count: int
    best: Observation         # the read whose images represent the pass
    candidates: tuple[tuple[str, float], ...]
    direction: str = ''       # 'approaching', 'leaving' or '' (unknown / sideways)


class PassAggregator:
    def __init__(self, config: PassConfig = PassConfig()):
        self.config = config
        self._open: dict[str, list[Pass]] = defaultdict(list)     # per camera
        self._recent: dict[str, list[Pass]] = defaultdict(list)   # closed, within repeat window
        self.ignored = 0

    def add(self, obs: Observation) -> list[Decision]:
        """Take one read; returns the passes it closed (by time) and maybe a preview."""
        c = self.config
        if obs.confidence < c.min_confidence or len(obs.text) < c.min_length:
            self.ignored += 1
            return []
        closed = self.tick(obs.stamp_ns)  # a pass that went quiet must not swallow this read
        p, fits = self._match(obs)
        if p is None:
            p = self._new_pass(obs)
        p.add(obs, fits)
        if p.closed_ns is not None:          # a repeat: it rejoins its earlier pass
            return closed
        if fits:
            p.divergent = []                 # its own plate again: the run of other reads is broken
        else:
            p = self._maybe_split(p, obs)
        return closed + self._maybe_preview(p, obs.stamp_ns)

    def _new_pass(self, obs: Observation) -> Pass:
        p = Pass(str(uuid.uuid4()), obs.camera_id, obs.stamp_ns, obs.stamp_ns,
                 match_distance=self.config.match_distance)
        self._open[obs.camera_id].append(p)
        return p

    def _maybe_split(self, p: Pass, obs: Observation) -> Pass:
        """A read on ``p``'s track whose text does not fit ``p``: a misread, or
        the first sight of the next vehicle. ``split_reads`` sure, agreeing
        reads in a row make it the next vehicle: they move to a new pass."""
        c = self.config
        agrees = p.divergent and compatible(obs.text, p.divergent[-1].text, c.match_distance)
        if obs.confidence < c.split_confidence:
            return p
        p.divergent = (p.divergent if agrees else []) + [obs]
        if len(p.divergent) < c.split_reads:
            return p
        moving, p.divergent = p.divergent, []
        p.remove(moving)
        new = self._new_pass(moving[0])
        for r in moving:
            new.add(r)
        return new

    def tick(self, now_ns: int) -> list[Decision]:
        """Close passes that went quiet; forget old repeats. Call periodically."""
        c = self.config
        out = []
        for camera, passes in self._open.items():
            for p in list(passes):
                quiet = now_ns - p.last_ns > c.gap_s * 1e9
                too_long = now_ns - p.first_ns > c.max_pass_s * 1e9
                if quiet or too_long:
                    passes.remove(p)
                    out += self._close(p)
                else:
                    out += self._maybe_preview(p, now_ns)
        for camera, recent in self._recent.items():
            recent[:] = [p for p in recent if now_ns - p.last_ns <= c.repeat_window_s * 1e9]
        return out

    def flush(self) -> list[Decision]:
        """Close every open pass (shutdown)."""
        out = []
        for passes in self._open.values():
            while passes:
                p = passes.pop()
                out += self._close(p)
        return out

    @property
    def open_count(self) -> int:
        return sum(len(v) for v in self._open.values())

    # -- internals ------------------------------------------------------------
    def _match(self, obs: Observation) -> tuple[Pass | None, bool]:
        """The open pass this read continues (and whether its text fits it), else
        a recent pass it repeats, else (None, True)."""
        c = self.config
        fitting, on_track = [], []
        for p in self._open[obs.camera_id]:
            if p.last_ns == obs.stamp_ns and any(r.stamp_ns == obs.stamp_ns for r in p.reads[-4:]):
                continue                      # it has a read of this frame: this is another plate
            moved = _jump(p.last_box, obs.box)
            if moved is not None and moved > c.track_jump:
                continue                      # too far from this track: another vehicle
            d = plate_distance(twin_fold(obs.text), twin_fold(p.text))
            if compatible(obs.text, p.text, c.match_distance) or \
                    (p.divergent and compatible(obs.text, p.divergent[-1].text, c.match_distance)):
                fitting.append((d, moved if moved is not None else c.track_jump, p))
            elif moved is not None and moved < 0.5:
                on_track.append((moved, p))   # where the track is, but another text
        if fitting:
            p = min(fitting, key=lambda x: (x[0], x[1]))[2]
            return p, compatible(obs.text, p.text, c.match_distance)
        if on_track:
            return min(on_track, key=lambda x: x[0])[1], False
        for p in self._recent[obs.camera_id]:
            if twin_fold(obs.text) == twin_fold(p.text):
                if not p.emitted:             # too few reads to count before: it goes on
                    self._recent[obs.camera_id].remove(p)
                    self._open[obs.camera_id].append(p)
                    p.closed_ns = None
                return p, True
        return None, True

    def _maybe_preview(self, p: Pass, now_ns: int | None = None) -> list[Decision]:
        c = self.config
        if c.preview_reads <= 0 or p.preview_sent:
            return []
        agreeing = p.text_counts.get(p.text, 0)
        waited = now_ns is not None and c.preview_timeout_s > 0 and now_ns - p.first_ns >= c.preview_timeout_s * 1e9
        if agreeing >= c.preview_reads or (waited and agreeing >= 2):
            p.preview_sent = True
            return [self._decision(p, PREVIEW)]
        return []

    def _close(self, p: Pass) -> list[Decision]:
        p.closed_ns = p.last_ns  # the repeat window runs from the last sighting
        self._recent[p.camera_id].append(p)
        if p.emitted or p.cluster_size() < self.config.min_reads:
            return []
        p.emitted = True
        return [self._decision(p, FINAL)]

    @staticmethod
    def _decision(p: Pass, stage: str) -> Decision:
        text, confidence = p.voted
        best = p.best_evidence(text)
        totals = p.text_totals      # every read: the candidates show what else was read
        weight = sum(totals.values()) or 1.0
        candidates = tuple((t, w / weight) for t, w in totals.most_common(5))
        cluster = p.cluster()
        seen = [r.stamp_ns for r in cluster] or [p.first_ns, p.last_ns]
        return Decision(stage, p.event_id, p.camera_id, text, confidence, min(seen), max(seen),
                        len(p.reads), best, candidates, direction(cluster))


def _jump(last_box, box) -> float | None:
    """How far the box centre moved, in plate widths (None when unknown)."""
    if last_box is None or box[2] <= 0:
        return None
    lx, ly = last_box[0] + last_box[2] / 2, last_box[1] + last_box[3] / 2
    x, y = box[0] + box[2] / 2, box[1] + box[3] / 2
    width = max(last_box[2], box[2], 1.0)
    return ((x - lx) ** 2 + (y - ly) ** 2) ** 0.5 / width


def direction(reads: list[Observation], growth: float = 1.15) -> str:
    """A plate that grows along the track comes closer; one that shrinks goes away."""
    widths = [r.box[2] for r in sorted(reads, key=lambda r: r.stamp_ns) if r.box[2] > 0]
    if len(widths) < 4:
        return ''
    third = max(1, len(widths) // 3)
    first = sorted(widths[:third])[third // 2]
    last = sorted(widths[-third:])[third // 2]
    if last >= first * growth:
        return 'approaching'
    if first >= last * growth:
        return 'leaving'
    return ''


def _strip(obs: Observation) -> Observation:
    if obs.payload is None:
        return obs
    return Observation(obs.camera_id, obs.stamp_ns, obs.text, obs.confidence, obs.box,
                       obs.char_confidences, obs.region, obs.format)


def vote(reads: list[tuple[str, float]]) -> tuple[str, float]:
    """Confidence-weighted vote: pick the winning length, then each character.

    Returns the text and its support: the mean, over characters, of the
    weight share the winning character got.
    """
    totals: Counter = Counter()
    counts: Counter = Counter()
    for t, w in reads:
        totals[t] += w
        counts[t] += 1
    return vote_totals(totals, counts)


def vote_totals(totals: dict[str, float], counts: dict[str, int]) -> tuple[str, float]:
    """``vote`` over distinct texts with their summed weights and read counts
    (the same result, in time proportional to the distinct texts)."""
    texts = [t for t in totals if t]
    if not texts:
        return '', 0.0
    by_length: Counter = Counter()
    for t in texts:
        by_length[len(t)] += totals[t]
    length = max(by_length, key=lambda n: (by_length[n], n))
    same = [t for t in texts if len(t) == length]
    total = sum(totals[t] for t in same) or 1.0
    chars, support = [], []
    for i in range(length):
        tally: Counter = Counter()
        for t in same:
            tally[t[i]] += totals[t]
        ch, weight = max(tally.items(), key=lambda kv: (kv[1], kv[0]))
        chars.append(ch)
        support.append(weight / total)
    mean_conf = sum(totals[t] for t in same) / sum(counts[t] for t in same)
    return ''.join(chars), mean_conf * sum(support) / length


def compatible(a: str, b: str, limit: int = 1, folded: bool = False) -> bool:
    """Two reads of one plate: equal but for glyph twins, at most ``limit``
    characters apart, or one inside the other (a plate half hidden or cut by
    the frame edge; at least 4 characters)."""
    if not folded:
        a, b = twin_fold(a), twin_fold(b)
    if a == b:
        return True
    if min(len(a), len(b)) >= 4 and (a in b or b in a):
        return True
    return plate_distance(a, b) <= limit


def plate_distance(a: str, b: str) -> int:
    """Levenshtein distance (plates are short; the plain DP is fast enough)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
