"""Seasonal models that need only one or two seasons of history (a year of weekly sales is 52 points).

- :class:`YoYNaive`: last season's values scaled by how the last ``recent`` points compare with the same points
  one season earlier (year-over-year growth); with two seasons, the mean of both years, each scaled.
- :class:`Fourier`: a ridge regression of ``log1p(y)`` on Fourier terms of the season (by calendar date for the
  year, so a 52- or 53-week year lines up), the events column when the data has one, and the level of the last
  ``recent`` residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collector.forecast.models import History
from collector.forecast.plan import RECENT

#: Steps per year, for the yearly Fourier terms of each frequency.
YEAR = {"h": 24 * 365.25, "D": 365.25, "W": 365.25 / 7}


def _ratio(recent: np.ndarray, before: np.ndarray, nonneg: bool) -> tuple[float, float]:
    """(multiplier, offset) that maps ``before`` onto ``recent``: a ratio of sums for non-negative data, clipped
    to [1/3, 3], else a difference of means."""
    if nonneg and before.sum() > 0:
        return float(np.clip(recent.sum() / before.sum(), 1 / 3, 3.0)), 0.0
    return 1.0, float(recent.mean() - before.mean())


def n_back(n: int, season: int) -> int:
    """Where the last full season of a series of ``n`` points starts (the last point without a season)."""
    return n - min(max(1, season), n)


@dataclass
class YoYNaive:
    """Seasonal naive scaled to the current level; two seasons back averaged in when the history has them. A season
    no longer than the scaling window (season 1: no seasonality) is plain seasonal naive."""

    season: int
    recent: int = RECENT
    name: str = "yoy_naive"

    def _one(self, v: np.ndarray, horizon: int, back: int) -> np.ndarray:
        n, k = v.size, self.recent
        pos = n - back + (np.arange(horizon) % self.season)
        mult, add = _ratio(v[n - k:], v[n - k - back:n - back], bool(v.min() >= 0))
        return v[pos] * mult + add

    def predict(self, history: History, horizon: int) -> np.ndarray:
        out = np.empty((len(history.values), horizon))
        for i, v in enumerate(history.values):
            backs = [b for b in (self.season, 2 * self.season) if v.size >= b + self.recent]
            if not backs or self.season <= self.recent:  # no season to scale (or too short): seasonal naive
                out[i] = v[n_back(v.size, self.season) + (np.arange(horizon) % max(1, self.season))]
                continue
            out[i] = np.mean([self._one(v, horizon, b) for b in backs], axis=0)
        return out


@dataclass
class Fourier:
    """Ridge regression of ``log1p(y)`` on ``harmonics`` Fourier pairs of each period that the history covers
    (see :meth:`_periods`), plus the events column, plus a level shift: the mean residual of the last ``recent``
    points (the series' current level). Without a season: the level of the last ``recent`` points (and events)."""

    season: int
    harmonics: int = 8
    ridge: float = 1.0
    recent: int = RECENT
    window: int = 156
    name: str = "fourier"

    def _periods(self, freq: str, n: int) -> list[float]:
        """The main season when it is shorter than half a year; the calendar year when the main season is the
        year (52 weeks) and the history covers 0.9 of one (a year fitted to a trend without one extrapolates it)."""
        if self.season <= 1:
            return []
        if self.season < YEAR[freq] / 2:
            return [float(self.season)]
        return [YEAR[freq]] if n >= YEAR[freq] * 0.9 else []

    def _design(self, t: np.ndarray, periods: list[float], events: np.ndarray | None) -> np.ndarray:
        cols = [np.ones(t.size)]
        for p in periods:
            for k in range(1, min(self.harmonics, int(p // 2)) + 1):
                cols += [np.sin(2 * np.pi * k * t / p), np.cos(2 * np.pi * k * t / p)]
        if events is not None:
            cols.append(events)
        return np.stack(cols, axis=1)

    def _fit_one(self, v: np.ndarray, start: float, horizon: int, freq: str, events: np.ndarray | None,
                 ) -> np.ndarray:
        n = v.size
        periods = self._periods(freq, n)
        if not periods and events is None:
            return np.full(horizon, v[-self.recent:].mean())
        nonneg = bool(v.min() >= 0)
        z = np.log1p(v) if nonneg else v
        x = self._design(start + np.arange(n + horizon), periods, events)
        xt = x[:n]
        penalty = self.ridge * np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        beta = np.linalg.solve(xt.T @ xt + penalty, xt.T @ z)
        level = float(np.mean(z[-self.recent:] - xt[-self.recent:] @ beta))
        f = x[n:] @ beta + level
        return np.maximum(np.expm1(np.minimum(f, 50.0)), 0.0) if nonneg else f

    def predict(self, history: History, horizon: int) -> np.ndarray:
        out = np.empty((len(history.values), horizon))
        step = pd.tseries.frequencies.to_offset(history.pandas_freq)
        epoch = pd.Timestamp("2000-01-01")
        for i, v in enumerate(history.values):
            y = v[-self.window:]
            first = history.end[i] - (y.size - 1) * step
            start = (first - epoch) / pd.Timedelta(days=YEAR["D"] / YEAR[history.freq])  # steps since the epoch
            ev = history.events_for(i, v.size - y.size, y.size + horizon)
            out[i] = self._fit_one(y, float(start), horizon, history.freq, ev)
        return out
