"""Rolling-origin backtests, per-series model selection and conformal prediction intervals.

Fold ``j`` (0 = the most recent) tests positions ``[n - H - j*H, n - j*H)`` of every series and trains on
everything before. Selection and calibration for a forecast from some origin only use folds whose test
windows end at or before that origin, so the intervals' coverage measured on later folds is honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collector.forecast.models import History, Model

LEVELS = (80, 95)


@dataclass
class Backtest:
    """Forecasts of every model at every fold: ``forecasts[name]`` and ``actuals`` are (folds, series, H)."""

    uids: list[str]
    forecasts: dict[str, np.ndarray]
    actuals: np.ndarray

    @property
    def n_folds(self) -> int:
        return int(self.actuals.shape[0])


def cut(history: History, drop: int) -> History:
    """The history without its last ``drop`` points (every series cut by the same number of steps)."""
    if drop == 0:
        return history
    offset = pd.tseries.frequencies.to_offset(history.pandas_freq)
    return History(history.uids, [v[:-drop] for v in history.values], history.end - drop * offset,
                   history.freq, history.pandas_freq, history.events)


def run_backtest(history: History, models: Sequence[Model], horizon: int, folds: int) -> Backtest:
    """Forecast each of ``folds`` consecutive windows of ``horizon`` steps ending at each series' end."""
    shortest = min(v.size for v in history.values)
    if shortest <= folds * horizon:
        raise ValueError(f"{folds} folds of {horizon} steps need more than {folds * horizon} points, have {shortest}")
    forecasts = {m.name: np.empty((folds, len(history.uids), horizon)) for m in models}
    actuals = np.empty((folds, len(history.uids), horizon))
    for j in range(folds):
        drop = (j + 1) * horizon
        train = cut(history, drop)
        actuals[j] = np.stack([v[v.size - drop: v.size - drop + horizon] for v in history.values])
        for m in models:
            forecasts[m.name][j] = m.predict(train, horizon)
    return Backtest(list(history.uids), forecasts, actuals)


def add_ensemble(bt_forecasts: dict[str, np.ndarray], members: Sequence[str], name: str = "ensemble") -> None:
    """Add the mean of ``members`` as another candidate (combinations often beat each member)."""
    present = [m for m in members if m in bt_forecasts]
    if len(present) >= 2:
        bt_forecasts[name] = np.mean([bt_forecasts[m] for m in present], axis=0)


def mae(forecast: np.ndarray, actual: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    return np.mean(np.abs(forecast - actual), axis=axis)


#: Fewer backtest points per series than this and one candidate is chosen for the whole panel (per-series
#: choices on a handful of points mostly follow noise).
MIN_POINTS_PER_SERIES = 100


def select(bt: Backtest, folds: Sequence[int], candidates: Sequence[str],
           min_points: int = MIN_POINTS_PER_SERIES) -> list[str]:
    """Per series, the candidate with the lowest MAE over the given folds; with fewer than ``min_points`` backtest
    points per series, the candidate with the lowest scale-free error (MAE / mean |y|) averaged over all series."""
    f = list(folds)
    errs = np.stack([mae(bt.forecasts[c][f], bt.actuals[f], axis=(0, 2)) for c in candidates])
    if len(f) * bt.actuals.shape[2] >= min_points:
        return [candidates[i] for i in np.argmin(errs, axis=0)]
    scale = np.mean(np.abs(bt.actuals[f]), axis=(0, 2)) + 1e-9
    best = candidates[int(np.argmin(np.mean(errs / scale, axis=1)))]
    return [best] * bt.actuals.shape[1]


def _scale(forecast: np.ndarray, actual_level: np.ndarray) -> np.ndarray:
    """Normaliser of conformal scores: errors grow with the forecast (busy hours err more than quiet ones)."""
    return np.abs(forecast) + 0.1 * actual_level[..., None] + 1e-9


@dataclass
class Conformal:
    """Per-series quantiles of normalised absolute errors at each interval level (pooled when a series has few)."""

    levels: tuple[int, ...]
    q: np.ndarray  # (series, levels)

    @classmethod
    def fit(cls, forecast: np.ndarray, actual: np.ndarray, levels: Sequence[int] = LEVELS,
            min_scores: int = 200) -> Conformal:
        """``forecast``/``actual``: (folds, series, H) of the selected model on calibration folds."""
        level_y = np.mean(np.abs(actual), axis=(0, 2))
        scores = np.abs(actual - forecast) / _scale(forecast, level_y[None, :])
        per_series = scores.transpose(1, 0, 2).reshape(scores.shape[1], -1)
        n = per_series.shape[1]
        q = np.empty((per_series.shape[0], len(levels)))
        for k, lvl in enumerate(levels):
            if n >= min_scores:
                rank = min(1.0, np.ceil((n + 1) * lvl / 100) / n)
                q[:, k] = np.quantile(per_series, rank, axis=1, method="higher")
            else:
                pooled = per_series.ravel()
                rank = min(1.0, np.ceil((pooled.size + 1) * lvl / 100) / pooled.size)
                q[:, k] = np.quantile(pooled, rank, method="higher")
        return cls(tuple(levels), q)

    def intervals(self, forecast: np.ndarray, level_y: np.ndarray, nonneg: bool,
                  ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{level: (lo, hi)}`` around ``forecast`` (series, H); ``level_y``: mean |y| of each series."""
        half = _scale(forecast, level_y)
        out = {}
        for k, lvl in enumerate(self.levels):
            w = half * self.q[:, k, None]
            lo = forecast - w
            out[lvl] = (np.maximum(lo, 0.0) if nonneg else lo, forecast + w)
        return out


def coverage(lo: np.ndarray, hi: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean((actual >= lo) & (actual <= hi)))
