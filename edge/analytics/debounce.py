"""Edge-triggered alerts with hysteresis: the timers behind out-of-stock, restock and planogram violations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(slots=True)
class Debounce:
    """Edge-triggered boolean with hysteresis over time.

    Inactive: raises once the condition has been observed true for ``on_s`` in total, forgiving false runs shorter
    than ``grace_s``. Active: clears once it has been observed false for ``off_s`` without a single true observation
    in between. ``None`` observations (occluded, ambiguous) pause both timers.
    """

    on_s: float
    off_s: float
    grace_s: float
    active: bool = False
    since: float | None = None  # when the condition began (of the current rising run)
    ended: float | None = None  # when the clearing run began
    _true_for: float = 0.0
    _false_for: float = 0.0

    def update(self, cond: bool | None, ts: float, dt: float) -> Literal["raised", "cleared"] | None:
        if cond is None:
            return None
        if not self.active:
            if cond:
                self.since = ts if self._true_for == 0.0 else self.since
                self._true_for += dt
                self._false_for = 0.0
                if self._true_for >= self.on_s:
                    self.active, self._true_for = True, 0.0
                    return "raised"
            else:
                self._false_for += dt
                if self._false_for >= self.grace_s:
                    self._true_for, self.since = 0.0, None
            return None
        if cond:
            self._false_for = 0.0
            return None
        if self._false_for == 0.0:
            self.ended = ts
        self._false_for += dt
        if self._false_for >= self.off_s:
            self.active, self._false_for = False, 0.0
            return "cleared"
        return None
