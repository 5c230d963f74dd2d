"""The forecaster: candidate models, per-series selection by rolling-origin backtest, conformal intervals.

``forecast(panel, horizon)`` fits every candidate on ``calib_folds`` past windows, picks the best per series,
calibrates 80%/95% intervals on that model's past errors, then forecasts from the end of the data. Series whose
history is too short for that are grouped by what it allows (:mod:`collector.forecast.plan`: fewer folds, a shorter
season or none) and each group runs on its own, with a warning naming the series and what was reduced.
``evaluate(panel, horizon, folds)`` repeats that honestly at each of ``folds`` past origins and reports MAE of
every model and of the selection, and the measured interval coverage, per fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from collector.forecast.backtest import LEVELS, Backtest, Conformal, add_ensemble, coverage, mae, run_backtest, select
from collector.forecast.data import ALL_SEASONS, SEASONS, Columns, ForecastInputError, Panel, event_arrays
from collector.forecast.models import GlobalGBM, History, Model, SeasonalMean, SeasonalNaive, StatsModel
from collector.forecast.plan import Plan, describe, minimum, plan_for
from collector.forecast.yearly import Fourier, YoYNaive

BASELINE = "seasonal_naive"
#: History per series the statistical models see (they are fitted per series and per origin).
STATS_WINDOW = {"h": 24 * 7 * 8, "D": 365, "W": 156}
MODEL_NAMES = ("seasonal_naive", "seasonal_mean", "yoy_naive", "fourier", "ets", "theta", "arima", "mstl", "gbm")
#: Candidates not averaged into the ensemble (baselines).
NOT_IN_ENSEMBLE = (BASELINE, "seasonal_mean")


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

    @property
    def seasons(self) -> list[int]:
        """Every season of the frequency up to the main one."""
        return [s for s in ALL_SEASONS[self.freq] if s <= self.main_season] or [self.main_season]

    def model_names(self) -> list[str]:
        if self.models:
            unknown = [m for m in self.models if m not in MODEL_NAMES]
            if unknown:
                raise ForecastInputError(f"unknown model {unknown[0]!r}: use any of {', '.join(MODEL_NAMES)}")
            return list(dict.fromkeys([BASELINE, *self.models]))
        stats = {"h": ["mstl"], "D": ["ets", "theta"], "W": ["yoy_naive", "fourier", "ets", "theta", "mstl"]}[self.freq]
        return [BASELINE, "seasonal_mean", *stats, "gbm"]

    def build(self) -> list[Model]:
        m = self.main_season
        seasons = tuple(s for s in ALL_SEASONS[self.freq] if s <= m) or (m,)
        window = max(STATS_WINDOW[self.freq], 3 * m)
        make: dict[str, Callable[[], Model]] = {
            "seasonal_naive": lambda: SeasonalNaive(m),
            "seasonal_mean": lambda: SeasonalMean(m),
            "yoy_naive": lambda: YoYNaive(m),
            "fourier": lambda: Fourier(m, window=window),
            "ets": lambda: StatsModel("ets", seasons, window),
            "theta": lambda: StatsModel("theta", seasons, window),
            "arima": lambda: StatsModel("arima", seasons, window),
            "mstl": lambda: StatsModel("mstl", seasons, window),
            "gbm": lambda: GlobalGBM(m, self.country, self.subdiv, window=max(60 * m, 1000)),
        }
        return [make[name]() for name in self.model_names()]

    def for_plan(self, plan: Plan) -> Options:
        """These options with the plan's folds and season."""
        return replace(self, season=plan.season, calib_folds=plan.folds)


def _candidates(bt: Backtest, opts: Options) -> list[str]:
    if opts.ensemble:
        add_ensemble(bt.forecasts, [n for n in bt.forecasts if n not in NOT_IN_ENSEMBLE])
    return list(bt.forecasts)


@dataclass
class ForecastResult:
    """Forecasts (long table) plus the model chosen per series and its backtest MAE."""

    table: pd.DataFrame  # unique_id, ds, model, forecast, lo80, hi80, lo95, hi95
    chosen: dict[str, str]
    backtest_mae: dict[str, float]  # per model, over the calibration folds
    filled: int = 0
    skipped: list[str] = field(default_factory=list)  # series left out (too little history)
    warnings: list[str] = field(default_factory=list)  # what was reduced for short series, one line each
    columns: Columns | None = None  # the input's column names
    #: per series, the backtest MAE of its chosen model and of seasonal naive on the same calibration folds
    series_mae: dict[str, tuple[float, float]] = field(default_factory=dict)

    def output(self) -> pd.DataFrame:
        """The table with the input's id and time column names (``unique_id, ds`` when it had none)."""
        cols = self.columns or Columns()
        return self.table.rename(columns={"unique_id": cols.id, "ds": cols.time})


@dataclass
class Group:
    """Series (positions in the history) that share one plan."""

    idx: list[int]
    plan: Plan


def _history(panel: Panel, horizon: int, opts: Options) -> History:
    events = event_arrays(panel, horizon, opts.main_season)
    return History.from_frame(panel.df, panel.freq, panel.pandas_freq, events)


def plan_groups(history: History, horizon: int, opts: Options, drop: int = 0) -> tuple[list[Group], list[str]]:
    """Group the series by the plan their history allows (``drop``: points held out for an outer backtest);
    the warnings name the series of each reduced plan and what was reduced. A series too short for any plan
    raises ForecastInputError naming it, its length and the minimum."""
    plans: dict[Plan, list[int]] = {}
    for i, v in enumerate(history.values):
        plan = plan_for(v.size - drop, horizon, opts.seasons, opts.main_season, opts.calib_folds)
        if plan is None:
            need = minimum(horizon, opts.seasons)
            held = f": {drop // horizon} backtest folds of {horizon} steps leave {v.size - drop}," if drop else ""
            raise ForecastInputError(f"series {history.uids[i]!r} has {v.size} points{held} fewer than the {need} a "
                                     f"{horizon}-step forecast needs")
        plans.setdefault(plan, []).append(i)
    groups = [Group(idx, plan) for plan, idx in plans.items()]
    warnings = [describe([history.uids[i] for i in g.idx], [history.values[i].size for i in g.idx],
                         g.plan.reductions(opts.calib_folds, opts.main_season)) for g in groups if not g.plan.full]
    return groups, warnings


def fit_models(history: History, models: Sequence[Model], horizon: int, folds: int, final: bool,
               ) -> tuple[Backtest, dict[str, np.ndarray]]:
    """Every model's forecasts on ``folds`` backtest windows and, when ``final``, from the end of the data
    (name -> (series, H)); the one place candidates are fitted, in this process or on a cluster's workers."""
    bt = run_backtest(history, models, horizon, folds)
    return bt, ({m.name: m.predict(history, horizon) for m in models} if final else {})


Fitter = Callable[[History, Sequence[Model], int, int, bool], tuple[Backtest, dict[str, np.ndarray]]]
#: Where the candidates are fitted: :func:`fit_models` here, or a cluster (:mod:`collector.forecast.distributed`).
FITTER: ContextVar[Fitter] = ContextVar("forecast_fitter", default=fit_models)


def _forecast_group(history: History, horizon: int, opts: Options
                    ) -> tuple[pd.DataFrame, list[str], dict[str, float], list[tuple[float, float]]]:
    """Select, calibrate and forecast one group of series that share a plan (``opts`` carries it)."""
    bt, final = FITTER.get()(history, opts.build(), horizon, opts.calib_folds, True)
    candidates = _candidates(bt, opts)
    chosen = select(bt, list(range(opts.calib_folds)), candidates)
    if "ensemble" in candidates:
        add_ensemble(final, [n for n in final if n not in NOT_IN_ENSEMBLE])
    idx = np.arange(len(chosen))
    point = np.stack([final[c][i] for i, c in zip(idx, chosen, strict=True)])
    calib = np.stack([bt.forecasts[c][:, i] for i, c in zip(idx, chosen, strict=True)], axis=1)
    conf = Conformal.fit(calib, bt.actuals)
    nonneg = all(float(v.min()) >= 0 for v in history.values)
    bands = conf.intervals(point, np.mean(np.abs(bt.actuals), axis=(0, 2)), nonneg)
    table = pd.DataFrame({
        "unique_id": np.repeat(history.uids, horizon),
        "ds": history.future(horizon),
        "model": np.repeat(chosen, horizon),
        "forecast": point.ravel(),
    })
    for lvl in LEVELS:
        table[f"lo{lvl}"], table[f"hi{lvl}"] = bands[lvl][0].ravel(), bands[lvl][1].ravel()
    per_series = [(float(mae(bt.forecasts[c][:, i], bt.actuals[:, i])),
                   float(mae(bt.forecasts[BASELINE][:, i], bt.actuals[:, i])))
                  for i, c in zip(idx, chosen, strict=True)]
    return table, chosen, {c: float(mae(bt.forecasts[c], bt.actuals)) for c in candidates}, per_series


def forecast(panel: Panel, horizon: int, opts: Options) -> ForecastResult:
    """Select a model per series on the last ``calib_folds`` windows (fewer for short series, see
    :func:`plan_groups`) and forecast ``horizon`` steps ahead."""
    history = _history(panel, horizon, opts)
    groups, warnings = plan_groups(history, horizon, opts)
    tables, chosen, scores, series_mae = [], {}, [], {}
    for g in groups:
        table, names, mae_g, per_series = _forecast_group(history.subset(g.idx), horizon, opts.for_plan(g.plan))
        tables.append(table)
        chosen.update({history.uids[i]: c for i, c in zip(g.idx, names, strict=True)})
        series_mae.update({history.uids[i]: m for i, m in zip(g.idx, per_series, strict=True)})
        scores.append((len(g.idx), mae_g))
    order = {uid: k for k, uid in enumerate(history.uids)}
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values("unique_id", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return ForecastResult(table, {u: chosen[u] for u in history.uids}, _pool(scores), panel.filled,
                          warnings=warnings, columns=panel.columns, series_mae=series_mae)


def _pool(scores: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Per model, the MAE of the groups averaged by their number of series (models every group has)."""
    names = [n for n in scores[0][1] if all(n in s for _, s in scores)]
    total = sum(w for w, _ in scores)
    return {n: sum(w * s[n] for w, s in scores) / total for n in names}


@dataclass
class Evaluation:
    """Per outer fold (0 = most recent): MAE of each model, of the per-series selection, interval coverage."""

    folds: int
    horizon: int
    fold_end: list[str]
    mae: dict[str, list[float]]  # model -> per fold; includes "selected"
    coverage: dict[int, list[float]]  # level -> per fold
    chosen: list[dict[str, int]] = field(default_factory=list)  # per fold: model -> number of series
    warnings: list[str] = field(default_factory=list)

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
                "per_fold_coverage": {str(k): v for k, v in self.coverage.items()}, "chosen": self.chosen,
                "warnings": self.warnings}


@dataclass
class _Outer:
    """One group's outer folds: forecasts (folds, series, H) per candidate and of the selection, and the bands."""

    forecasts: dict[str, np.ndarray]
    actuals: np.ndarray
    bands: dict[int, tuple[np.ndarray, np.ndarray]]
    chosen: list[list[str]]


def _evaluate_group(history: History, horizon: int, folds: int, opts: Options) -> _Outer:
    """Outer folds ``0 .. folds-1`` of one group; selection and calibration for fold ``j`` only use the
    ``opts.calib_folds`` folds before it."""
    total = folds + opts.calib_folds
    bt, _ = FITTER.get()(history, opts.build(), horizon, total, False)
    candidates = _candidates(bt, opts)
    nonneg = all(float(v.min()) >= 0 for v in history.values)
    shape = (folds, len(history.uids), horizon)
    selected, chosen = np.empty(shape), []
    bands = {lvl: (np.empty(shape), np.empty(shape)) for lvl in LEVELS}
    for j in range(folds):
        calib = list(range(j + 1, j + 1 + opts.calib_folds))
        names = select(bt, calib, candidates)
        idx = np.arange(len(names))
        selected[j] = np.stack([bt.forecasts[c][j, i] for i, c in zip(idx, names, strict=True)])
        cal_fc = np.stack([bt.forecasts[c][calib, i] for i, c in zip(idx, names, strict=True)], axis=1)
        conf = Conformal.fit(cal_fc, bt.actuals[calib])
        level_y = np.mean(np.abs(bt.actuals[calib]), axis=(0, 2))
        for lvl, (lo, hi) in conf.intervals(selected[j], level_y, nonneg).items():
            bands[lvl][0][j], bands[lvl][1][j] = lo, hi
        chosen.append(names)
    forecasts = {c: bt.forecasts[c][:folds] for c in candidates}
    return _Outer({**forecasts, "selected": selected}, bt.actuals[:folds], bands, chosen)


def evaluate(panel: Panel, horizon: int, folds: int, opts: Options, extra: dict[str, np.ndarray] | None = None,
             ) -> Evaluation:
    """Rolling-origin evaluation of the whole forecaster on ``folds`` windows ending at the last timestamp.

    ``extra``: forecasts (folds, series, H) of outside models (e.g. Prophet) on the same folds, for the table.
    """
    history = _history(panel, horizon, opts)
    groups, warnings = plan_groups(history, horizon, opts, drop=folds * horizon)
    outer = [_evaluate_group(history.subset(g.idx), horizon, folds, opts.for_plan(g.plan)) for g in groups]
    order = np.argsort(np.concatenate([g.idx for g in groups]))
    names = [n for n in outer[0].forecasts if all(n in o.forecasts for o in outer)]
    fc = {n: np.concatenate([o.forecasts[n] for o in outer], axis=1)[:, order] for n in names}
    fc.update({k: v for k, v in (extra or {}).items()})
    actuals = np.concatenate([o.actuals for o in outer], axis=1)[:, order]
    scores = {n: [float(mae(f[j], actuals[j])) for j in range(folds)] for n, f in fc.items() if n != "selected"}
    scores["selected"] = [float(mae(fc["selected"][j], actuals[j])) for j in range(folds)]
    cover = {}
    for lvl in LEVELS:
        lo, hi = (np.concatenate([o.bands[lvl][k] for o in outer], axis=1)[:, order] for k in (0, 1))
        cover[lvl] = [coverage(lo[j], hi[j], actuals[j]) for j in range(folds)]
    chosen_counts = []
    for j in range(folds):
        names_j = [c for o in outer for c in o.chosen[j]]
        chosen_counts.append({c: names_j.count(c) for c in sorted(set(names_j))})
    offset = pd.tseries.frequencies.to_offset(history.pandas_freq)
    last = history.end.max()
    fold_end = [str(last - j * horizon * offset) for j in range(folds)]
    return Evaluation(folds, horizon, fold_end, scores, cover, chosen_counts, warnings)
