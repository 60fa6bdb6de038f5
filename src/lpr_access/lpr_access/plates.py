"""Plate comparison for access lists and search: compact text, glyph twins
(O/0, B/8...) count as the same character, then a small edit distance."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.plate_text import CONFUSABLE, compact, twin_fold


@dataclass(frozen=True)
class Tolerance:
    max_edits: int = 1          # insertions, deletions or substitutions allowed
    confusables: bool = True    # glyph twins (O/0, B/8, A/4...) cost nothing


EXACT = Tolerance(max_edits=0, confusables=False)


def same_glyph(a: str, b: str, confusables: bool = True) -> bool:
    if a == b:
        return True
    return confusables and (twin_fold(a) == twin_fold(b) or b in CONFUSABLE.get(a, {}))


def _substitution(a: str, b: str, tol: Tolerance) -> int:
    return 0 if same_glyph(a, b, tol.confusables) else 1


def distance(a: str, b: str, tol: Tolerance = Tolerance()) -> int:
    """Edit distance between two compact plates, twins free when allowed."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + _substitution(ca, cb, tol)))
        previous = current
    return previous[-1]


def substring_distance(query: str, plate: str, tol: Tolerance = Tolerance()) -> int:
    """Fewest edits turning ``query`` into some part of ``plate`` (a partial
    plate matches anywhere: the first row costs nothing wherever it starts)."""
    previous = [0] * (len(plate) + 1)
    for i, cq in enumerate(query, 1):
        current = [i]
        for j, cp in enumerate(plate, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + _substitution(cq, cp, tol)))
        previous = current
    return min(previous)


def matches_partial(query: str, plate: str, tol: Tolerance = Tolerance()) -> bool:
    """Does the operator's (partial) ``query`` find ``plate``?"""
    q, p = compact(query), compact(plate)
    if not q:
        return True
    return substring_distance(q, p, tol) <= min(tol.max_edits, max(0, len(q) - 2))


def matches_whole(listed: str, plate: str, tol: Tolerance = Tolerance()) -> int | None:
    """The distance of ``plate`` to a listed plate, or None beyond tolerance."""
    d = distance(compact(listed), compact(plate), tol)
    return d if d <= tol.max_edits else None
