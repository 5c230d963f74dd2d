"""What each series' history allows: backtest folds, the season models may use, and what had to be reduced.

A series with ``n`` points, horizon ``H`` and requested ``F`` calibration folds gets, in this order of preference:

- the full treatment: ``F`` folds and every season of the frequency, when ``n >= F*H + 2*m`` (``m``: main season);
- a seasonal plan with fewer folds: the longest season ``s`` (of the frequency's seasons up to ``m``) with
  ``n >= s + H + RECENT`` (one season to look back, one fold of ``H`` to test, ``RECENT`` points to scale last
  season to this one), and ``min(F, (n - s - RECENT) // H)`` folds, so every fold's training data holds a season;
- a non-seasonal plan: ``n >= 3*H`` (and at least ``MIN_POINTS``), ``min(F, n // H - 2)`` folds.

Shorter than all of these is an error naming the series, its length and the minimum (:func:`minimum`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Points at the end of a series the year-over-year model uses to scale last season to the current level.
RECENT = 4
#: The fewest points of a non-seasonal series (whatever the horizon).
MIN_POINTS = 8


@dataclass(frozen=True)
class Plan:
    """The folds and the main season one group of series is backtested and forecast with."""

    folds: int
    season: int  # 1: no seasonality
    full: bool  # nothing reduced

    def reductions(self, requested_folds: int, main_season: int) -> list[str]:
        """What was reduced, in words (empty for the full plan)."""
        out = []
        if self.folds < requested_folds:
            out.append(f"{self.folds} backtest fold{'s' if self.folds > 1 else ''} instead of {requested_folds}")
        if self.season == 1:
            out.append(f"no seasonality (fewer than {main_season} + horizon + {RECENT} points)")
        elif self.season < main_season:
            out.append(f"season {self.season} instead of {main_season}")
        elif not self.full:
            out.append(f"backtest folds trained on less than two seasons of {main_season} (seasonal models from 1-2)")
        return out


def minimum(horizon: int, seasons: Sequence[int]) -> int:
    """The fewest points a series needs to be forecast at all (any plan)."""
    seasonal = [s + horizon + RECENT for s in seasons if s > 1]
    return min([*seasonal, max(3 * horizon, MIN_POINTS)])


def plan_for(n: int, horizon: int, seasons: Sequence[int], main_season: int, folds: int) -> Plan | None:
    """The plan for a series of ``n`` points, or None when it is too short for any (see the module doc)."""
    if n >= folds * horizon + 2 * main_season:
        return Plan(folds, main_season, True)
    for s in sorted((s for s in seasons if 1 < s <= main_season), reverse=True):
        if n >= s + horizon + RECENT:
            return Plan(min(folds, (n - s - RECENT) // horizon), s, False)
    if n >= max(3 * horizon, MIN_POINTS):
        return Plan(min(folds, n // horizon - 2), 1, False)
    return None


def describe(names: Sequence[str], lengths: Sequence[int], reductions: Sequence[str], limit: int = 5) -> str:
    """One warning line: which series (the first ``limit`` by name), their lengths and what was reduced."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    shown = ", ".join(repr(n) for n in names[:limit]) + more
    lo, hi = min(lengths), max(lengths)
    span = f"{lo}" if lo == hi else f"{lo}-{hi}"
    noun = "series" if len(names) == 1 else f"{len(names)} series"
    return f"{noun} {shown} ({span} points): {'; '.join(reductions)}"
