"""Plate events -> access decisions. Pure: the lists come in with each call.

One decision per event: the preview decides (and opens); the final of the
same event is silent when it agrees, and a correction when it does not (it
opens when nothing opened yet; an open barrier is never "un-opened").
"""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, replace

from lpr_access.lists import ALLOW, DENY, UNKNOWN, VISITOR, match
from lpr_access.plates import Tolerance

OPEN, REVIEW = 'open', 'review'
PREVIEW, FINAL = 'preview', 'final'
UNKNOWN_POLICIES = (REVIEW, DENY)
_BY_LIST = {ALLOW: OPEN, VISITOR: OPEN, DENY: DENY}


@dataclass(frozen=True)
class Sighting:
    """What the decision needs from a plate event."""
    event_id: str
    camera: str
    plate: str
    when: dt.datetime     # the event's time (validity windows are checked at it)
    source: str           # PREVIEW or FINAL


@dataclass(frozen=True)
class Decision:
    event_id: str
    camera: str
    plate: str
    decision: str         # OPEN, DENY or REVIEW
    list_name: str        # allow / deny / visitor, '' when no entry matched
    entry_plate: str
    distance: int
    reason: str
    source: str
    correction: bool = False
    pulse: bool = False   # drive the barrier now


class Decider:
    """Remembers the last ``memory`` events it decided, so a final follows its preview."""

    def __init__(self, unknown: str = REVIEW, tolerance: Tolerance = Tolerance(), memory: int = 10_000):
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f'unknown must be one of {UNKNOWN_POLICIES}, not {unknown!r}')
        self.unknown = unknown
        self.tolerance = tolerance
        self._memory = memory
        self._decided: OrderedDict[str, tuple[str, bool]] = OrderedDict()   # event id -> (decision, opened)

    def decide(self, sighting: Sighting, entries) -> Decision | None:
        """The decision to publish for ``sighting``, or None when its event
        was decided already and this one agrees."""
        fresh = self._judge(sighting, entries)
        earlier = self._decided.get(sighting.event_id)
        if earlier is None:
            decision = replace(fresh, pulse=fresh.decision == OPEN)
        elif earlier[0] == fresh.decision:
            return None
        else:
            opened = earlier[1]
            decision = replace(fresh, correction=True, pulse=fresh.decision == OPEN and not opened,
                             reason=f'{fresh.reason}; corrects the earlier {earlier[0]!r}'
                                    + (' (the barrier was opened already)' if opened else ''))
        self._remember(sighting.event_id, decision.decision, decision.pulse or bool(earlier and earlier[1]))
        return decision

    def _judge(self, s: Sighting, entries) -> Decision:
        m = match(s.plate, s.camera, s.when, entries, self.tolerance)
        if m.decision == UNKNOWN:
            return Decision(s.event_id, s.camera, s.plate, self.unknown, '', '', 0,
                            'on no list' + (' (unknown: deny)' if self.unknown == DENY else ''), s.source)
        how = 'exact' if m.distance == 0 else f'{m.distance} edit(s) from {m.entry.plate}'
        return Decision(s.event_id, s.camera, s.plate, _BY_LIST[m.decision], m.decision, m.entry.plate,
                        m.distance, f'{m.decision} list, {how}', s.source)

    def _remember(self, event_id: str, decision: str, opened: bool) -> None:
        self._decided[event_id] = (decision, opened)
        self._decided.move_to_end(event_id)
        while len(self._decided) > self._memory:
            self._decided.popitem(last=False)
