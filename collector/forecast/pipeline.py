"""The forecaster: candidate models, per-series selection by rolling-origin backtest, conformal intervals.

``forecast(panel, horizon)`` fits every candidate on ``calib_folds`` past windows, picks the best per series,
calibrates 80%/95% intervals on that model's past errors, then forecasts from the end of the data.
``evaluate(panel, horizon, folds)`` repeats that honestly at each of ``folds`` past origins and reports MAE of
every model and of the selection, and the measured interval coverage, per fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collector.forecast.backtest import LEVELS, Backtest, Conformal, add_ensemble, coverage, mae, run_backtest, select
from collector.forecast.data import ALL_SEASONS, SEASONS, ForecastInputError, Panel
from collector.forecast.models import GlobalGBM, History, Model, SeasonalMean, SeasonalNaive, StatsModel

BASELINE = "seasonal_naive"
#: History per series the statistical models see (they are fitted per series and per origin).
STATS_WINDOW = {"h": 24 * 7 * 8, "D": 365, "W": 156}
MODEL_NAMES = ("seasonal_naive", "seasonal_mean", "ets", "theta", "arima", "mstl", "gbm")


@dataclass
class Options:
    """What to fit: frequency, season (steps; defaults per frequency), models, holiday calendar, folds."""

    freq: str
    season: int | None = None
    models: Sequence[str] | None = None  # None: the defaults of the frequency
    country: str | None = None  # ISO code of the public-holiday calendar (e.g. NZ, GB, US)
    subdiv: str | None = None
    calib_folds: int = 4
    ensemble: bool = True

    @property
    def main_season(self) -> int:
        return self.season or SEASONS[self.freq]

    def model_names(self) -> list[str]:
        if self.models:
            unknown = [m for m in self.models if m not in MODEL_NAMES]
            if unknown:
                raise ForecastInputError(f"unknown model {unknown[0]!r}: use any of {', '.join(MODEL_NAMES)}")
            return list(dict.fromkeys([BASELINE, *self.models]))
        stats = {"h": ["mstl"], "D": ["ets", "theta"], "W": ["ets", "theta"]}[self.freq]
        return [BASELINE, "seasonal_mean", *stats, "gbm"]

    def build(self) -> list[Model]:
        m = self.main_season
        seasons = tuple(s for s in ALL_SEASONS[self.freq] if s <= m) or (m,)
        window = max(STATS_WINDOW[self.freq], 3 * m)
        make: dict[str, Callable[[], Model]] = {
            "seasonal_naive": lambda: SeasonalNaive(m),
            "seasonal_mean": lambda: SeasonalMean(m),
            "ets": lambda: StatsModel("ets", seasons, window),
            "theta": lambda: StatsModel("theta", seasons, window),
            "arima": lambda: StatsModel("arima", seasons, window),
            "mstl": lambda: StatsModel("mstl", seasons, window),
            "gbm": lambda: GlobalGBM(m, self.country, self.subdiv, window=max(60 * m, 1000)),
        }
        return [make[name]() for name in self.model_names()]


def _candidates(bt: Backtest, opts: Options) -> list[str]:
    names = list(bt.forecasts)
    if opts.ensemble:
        members = [n for n in names if n not in (BASELINE, "seasonal_mean")]
        add_ensemble(bt.forecasts, members)
    return list(bt.forecasts)


@dataclass
class ForecastResult:
    """Forecasts (long table) plus the model chosen per series and its backtest MAE."""

    table: pd.DataFrame  # unique_id, ds, model, forecast, lo80, hi80, lo95, hi95
    chosen: dict[str, str]
    backtest_mae: dict[str, float]  # per model, over the calibration folds
    filled: int = 0
    skipped: list[str] = field(default_factory=list)  # series left out (too little history)


def _history(panel: Panel) -> History:
    return History.from_frame(panel.df, panel.freq, panel.pandas_freq)


def _check_folds(history: History, horizon: int, folds: int, opts: Options) -> None:
    need = folds * horizon + 2 * opts.main_season
    shortest = min(v.size for v in history.values)
    if shortest < need:
        i = int(np.argmin([v.size for v in history.values]))
        raise ForecastInputError(
            f"series {history.uids[i]!r} has {shortest} points: {folds} backtest folds of {horizon} steps plus two "
            f"seasons of {opts.main_season} need {need}"
        )


def forecast(panel: Panel, horizon: int, opts: Options) -> ForecastResult:
    """Select a model per series on the last ``calib_folds`` windows and forecast ``horizon`` steps ahead."""
    history = _history(panel)
    _check_folds(history, horizon, opts.calib_folds, opts)
    models = opts.build()
    bt = run_backtest(history, models, horizon, opts.calib_folds)
    candidates = _candidates(bt, opts)
    folds = list(range(opts.calib_folds))
    chosen = select(bt, folds, candidates)
    final = {m.name: m.predict(history, horizon) for m in models}
    if "ensemble" in candidates:
        add_ensemble(final, [n for n in final if n not in (BASELINE, "seasonal_mean")])
    idx = np.arange(len(chosen))
    point = np.stack([final[c][i] for i, c in zip(idx, chosen, strict=True)])
    calib = np.stack([bt.forecasts[c][:, i] for i, c in zip(idx, chosen, strict=True)], axis=1)
    conf = Conformal.fit(calib, bt.actuals)
    nonneg = all(float(v.min()) >= 0 for v in history.values)
    level_y = np.mean(np.abs(bt.actuals), axis=(0, 2))
    bands = conf.intervals(point, level_y, nonneg)
    table = pd.DataFrame({
        "unique_id": np.repeat(history.uids, horizon),
        "ds": history.future(horizon),
        "model": np.repeat(chosen, horizon),
        "forecast": point.ravel(),
    })
    for lvl in LEVELS:
        table[f"lo{lvl}"], table[f"hi{lvl}"] = bands[lvl][0].ravel(), bands[lvl][1].ravel()
    scores = {c: float(mae(bt.forecasts[c], bt.actuals)) for c in candidates}
    return ForecastResult(table, dict(zip(history.uids, chosen, strict=True)), scores, panel.filled)


@dataclass
class Evaluation:
    """Per outer fold (0 = most recent): MAE of each model, of the per-series selection, interval coverage."""

    folds: int
    horizon: int
    fold_end: list[str]
    mae: dict[str, list[float]]  # model -> per fold; includes "selected"
    coverage: dict[int, list[float]]  # level -> per fold
    chosen: list[dict[str, int]] = field(default_factory=list)  # per fold: model -> number of series

    def summary(self) -> dict[str, object]:
        base = np.mean(self.mae[BASELINE])
        return {
            "folds": self.folds,
            "horizon": self.horizon,
            "mean_mae": {k: float(np.mean(v)) for k, v in self.mae.items()},
            "selected_vs_baseline": float(np.mean(self.mae["selected"]) / base - 1.0),
            "coverage": {str(k): float(np.mean(v)) for k, v in self.coverage.items()},
        }

    def to_dict(self) -> dict[str, object]:
        return {**self.summary(), "fold_end": self.fold_end, "per_fold_mae": self.mae,
                "per_fold_coverage": {str(k): v for k, v in self.coverage.items()}, "chosen": self.chosen}


def evaluate(panel: Panel, horizon: int, folds: int, opts: Options, extra: dict[str, np.ndarray] | None = None,
             ) -> Evaluation:
    """Rolling-origin evaluation of the whole forecaster on ``folds`` windows ending at the last timestamp.

    ``extra``: forecasts (folds, series, H) of outside models (e.g. Prophet) on the same folds, for the table.
    """
    history = _history(panel)
    total = folds + opts.calib_folds
    _check_folds(history, horizon, total, opts)
    bt = run_backtest(history, opts.build(), horizon, total)
    candidates = _candidates(bt, opts)
    scores: dict[str, list[float]] = {c: [] for c in [*candidates, *(extra or {}), "selected"]}
    cover: dict[int, list[float]] = {lvl: [] for lvl in LEVELS}
    chosen_counts = []
    nonneg = all(float(v.min()) >= 0 for v in history.values)
    for j in range(folds):
        calib = list(range(j + 1, j + 1 + opts.calib_folds))
        chosen = select(bt, calib, candidates)
        idx = np.arange(len(chosen))
        point = np.stack([bt.forecasts[c][j, i] for i, c in zip(idx, chosen, strict=True)])
        cal_fc = np.stack([bt.forecasts[c][calib, i] for i, c in zip(idx, chosen, strict=True)], axis=1)
        conf = Conformal.fit(cal_fc, bt.actuals[calib])
        level_y = np.mean(np.abs(bt.actuals[calib]), axis=(0, 2))
        bands = conf.intervals(point, level_y, nonneg)
        for c in candidates:
            scores[c].append(float(mae(bt.forecasts[c][j], bt.actuals[j])))
        for name, fc in (extra or {}).items():
            scores[name].append(float(mae(fc[j], bt.actuals[j])))
        scores["selected"].append(float(mae(point, bt.actuals[j])))
        for lvl in LEVELS:
            cover[lvl].append(coverage(*bands[lvl], bt.actuals[j]))
        chosen_counts.append({c: chosen.count(c) for c in sorted(set(chosen))})
    offset = pd.tseries.frequencies.to_offset(history.pandas_freq)
    last = history.end.max()
    fold_end = [str(last - j * horizon * offset) for j in range(folds)]
    return Evaluation(folds, horizon, fold_end, scores, cover, chosen_counts)
