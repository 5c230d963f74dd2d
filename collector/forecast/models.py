"""Forecasting models behind one interface: ``model.predict(history, horizon) -> (n_series, horizon)`` array.

``History`` holds each series' values up to its forecast origin and the timestamp of its last value.
Models: seasonal naive and seasonal mean (baselines), statsforecast models (ETS, Theta, ARIMA, MSTL for
several seasons) and a global LightGBM model with calendar and public-holiday features fitted across all series.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd

from collector.forecast.calendar import calendar_features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    """Per-series values up to the forecast origin (ragged lengths allowed)."""

    uids: list[str]
    values: list[np.ndarray]
    end: pd.DatetimeIndex  # timestamp of each series' last value
    freq: str  # h | D | W
    pandas_freq: str
    #: Per series, 0/1 event flags from the series' first point on, known beyond its last value (at least
    #: ``horizon`` further); None when the data has no events column.
    events: list[np.ndarray] | None = None

    @classmethod
    def from_frame(cls, df: pd.DataFrame, freq: str, pandas_freq: str, events: list[np.ndarray] | None = None,
                   ) -> History:
        groups = df.groupby("unique_id", sort=False)
        uids = list(groups.groups)
        values = [g.to_numpy(dtype=float) for _, g in groups["y"]]
        end = pd.DatetimeIndex(groups["ds"].max().reindex(uids))
        return cls(uids, values, end, freq, pandas_freq, events)

    def subset(self, idx: list[int]) -> History:
        """The series at positions ``idx``."""
        events = None if self.events is None else [self.events[i] for i in idx]
        return History([self.uids[i] for i in idx], [self.values[i] for i in idx], self.end[idx], self.freq,
                       self.pandas_freq, events)

    def events_for(self, i: int, start: int, length: int) -> np.ndarray | None:
        """Event flags of series ``i`` at positions ``start .. start+length`` (None without events)."""
        if self.events is None:
            return None
        ev = self.events[i][start:start + length]
        return np.pad(ev, (0, length - ev.size)) if ev.size < length else ev

    def future(self, horizon: int) -> pd.DatetimeIndex:
        """Timestamps of the ``horizon`` steps after each series' end, flattened series-major."""
        offset = pd.tseries.frequencies.to_offset(self.pandas_freq)
        steps = [self.end + k * offset for k in range(1, horizon + 1)]
        return pd.DatetimeIndex(np.stack([s.values for s in steps], axis=1).ravel())


class Model(Protocol):
    """A candidate. Each series' forecast depends on that series alone unless the class sets ``cross_series``
    (fitted across series: a cluster runs it on the whole panel, never split by id)."""

    name: str

    def predict(self, history: History, horizon: int) -> np.ndarray: ...


@dataclass
class SeasonalNaive:
    """The value one season ago (``season=1``: the last value)."""

    season: int
    name: str = "seasonal_naive"

    def predict(self, history: History, horizon: int) -> np.ndarray:
        pos = (np.arange(horizon) % self.season) - self.season
        return np.stack([v[pos] for v in history.values])


@dataclass
class SeasonalMean:
    """The mean of the same position over the last ``k`` seasons (a robust seasonal baseline)."""

    season: int
    k: int = 4
    name: str = "seasonal_mean"

    def predict(self, history: History, horizon: int) -> np.ndarray:
        pos = (np.arange(horizon) % self.season) - self.season
        out = np.empty((len(history.values), horizon))
        for i, v in enumerate(history.values):
            k = max(1, min(self.k, len(v) // self.season))
            out[i] = np.mean([v[pos - j * self.season] for j in range(k)], axis=0)
        return out


@dataclass
class StatsModel:
    """A statsforecast model fitted per series on the last ``window`` points (``kind``: ets|theta|arima|mstl)."""

    kind: str
    seasons: tuple[int, ...]
    window: int
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.kind

    def _model(self, n: int) -> object:
        from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta

        season = max([s for s in self.seasons if 2 * s <= n], default=1)
        if self.kind == "mstl":  # a season is decomposed from more than one season of data (a year of weeks: 53+)
            usable = [s for s in self.seasons if 1 < s < n]
            if not usable:
                return AutoETS(model="ZZN", alias=self.name)
            return MSTL(season_length=usable, trend_forecaster=AutoETS(model="ZZN"), alias=self.name)
        if self.kind == "ets":
            return AutoETS(season_length=season, alias=self.name)
        if self.kind == "theta":
            return AutoTheta(season_length=season, alias=self.name)
        if self.kind == "arima":
            return AutoARIMA(season_length=season, alias=self.name)
        raise ValueError(f"unknown statistical model {self.kind!r}")

    def predict(self, history: History, horizon: int) -> np.ndarray:
        out = np.empty((len(history.values), horizon))
        for i, v in enumerate(history.values):
            y = v[-self.window:]
            try:
                fitted = self._model(len(y)).forecast(y=y, h=horizon)  # type: ignore[attr-defined]
                out[i] = fitted["mean"]
            except Exception as exc:  # a statistical fit can fail on degenerate data; fall back to seasonal naive
                log.debug("%s failed on %s (%s); seasonal naive instead", self.name, history.uids[i], exc)
                out[i] = SeasonalNaive(max(1, min(max(self.seasons), len(y)))).predict(
                    History([history.uids[i]], [y], history.end[i:i + 1], history.freq, history.pandas_freq), horizon
                )[0]
        nonneg = np.array([float(v.min()) >= 0 for v in history.values])  # per series: splittable by id
        return np.where(nonneg[:, None], np.maximum(out, 0.0), out)


@dataclass
class GlobalGBM:
    """One LightGBM model across all series: seasonal lags (at least ``horizon`` back), level, calendar, holidays,
    and the events column when the data has one.

    Works in log1p space relative to the series level (the mean of the last season known at the origin), so
    series of very different sizes share one model. Direct: one model serves every step of the horizon.
    """

    season: int
    country: str | None = None
    subdiv: str | None = None
    window: int = 24 * 7 * 60  # training points per series (60 weeks of hours: last year's holidays included)
    n_lags: int = 4
    rounds: int = 200
    threads: int = 1  # OpenMP threads: more than 1 is several times slower on a busy shared machine
    max_rows: int = 250_000  # training rows, sampled evenly over series and time beyond this (speed)
    params: dict[str, object] = field(default_factory=dict)
    name: str = "gbm"
    cross_series: ClassVar[bool] = True

    def _lags(self, horizon: int) -> list[int]:
        first = -(-horizon // self.season) * self.season
        return [first + k * self.season for k in range(self.n_lags)]

    def _series_features(self, logy: np.ndarray, t: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
        """Level and lag features of target positions ``t`` in one series (log1p values; out of range is NaN)."""
        csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(logy))])
        w = self.season
        end = t - horizon + 1  # level: mean of the season ending ``horizon`` steps before the target
        ok = end - w >= 0
        level = np.full(t.size, np.nan)
        level[ok] = (csum[end[ok]] - csum[end[ok] - w]) / w
        feats = {"level": level}
        for lag in self._lags(horizon):
            src = t - lag
            val = np.where(src >= 0, logy[np.clip(src, 0, logy.size - 1)], np.nan)
            feats[f"lag{lag}"] = val - level
        return feats

    def _frame(self, parts: list[dict[str, np.ndarray]], stamps: list[np.ndarray], horizon: int, freq: str,
               ) -> pd.DataFrame:
        """Stack per-series features and add calendar features, computed once per distinct timestamp."""
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        ns = np.concatenate(stamps)
        uniq, inverse = np.unique(ns, return_inverse=True)
        when = pd.DatetimeIndex(uniq)
        cal = calendar_features(when, freq, self.country, self.subdiv)
        lag_when = when - _STEP[freq] * self._lags(horizon)[0]
        cal["holiday_lag"] = calendar_features(lag_when, freq, self.country, self.subdiv)["holiday"]
        cols.update({k: v[inverse] for k, v in cal.items()})
        return pd.DataFrame(cols)

    def predict(self, history: History, horizon: int) -> np.ndarray:
        import lightgbm as lgb

        step = _STEP[history.freq].value
        train: list[dict[str, np.ndarray]] = []
        train_ns: list[np.ndarray] = []
        test: list[dict[str, np.ndarray]] = []
        test_ns: list[np.ndarray] = []
        min_start = horizon + self.season - 1
        rng = np.random.default_rng(0)
        per_series = max(1, self.max_rows // max(1, len(history.values)))
        for sid, v in enumerate(history.values):
            logy = np.log1p(np.maximum(v, 0.0))
            n = v.size
            end_ns = history.end[sid].value
            t = np.arange(max(min_start, n - self.window), n)
            if t.size > per_series:
                t = np.sort(rng.choice(t, per_series, replace=False))
            f = self._series_features(logy, t, horizon)
            f["sid"], f["target"] = np.full(t.size, float(sid)), logy[t] - f["level"]
            train.append(f)
            train_ns.append(end_ns - (n - 1 - t) * step)
            tf = np.arange(n, n + horizon)
            g = self._series_features(np.concatenate([logy, np.full(horizon, np.nan)]), tf, horizon)
            g["sid"] = np.full(horizon, float(sid))
            ev = history.events_for(sid, 0, n + horizon)
            if ev is not None:  # the --events column at the target step
                f["event"], g["event"] = ev[t], ev[tf]
            test.append(g)
            test_ns.append(end_ns + (tf - n + 1) * step)
        x = self._frame(train, train_ns, horizon, history.freq)
        y = x.pop("target").to_numpy()
        keep = np.isfinite(y)
        if keep.sum() < 50:  # histories too short for a lag a season back: nothing to learn from
            log.debug("gbm: %d training rows; seasonal naive instead", int(keep.sum()))
            return SeasonalNaive(self.season).predict(history, horizon)
        params = {"objective": "l2", "learning_rate": 0.08, "num_leaves": 63, "min_data_in_leaf": 50,
                  "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "max_bin": 63,
                  "verbose": -1, "num_threads": self.threads, "seed": 0, "force_col_wise": True, **self.params}
        booster = lgb.train(params, lgb.Dataset(x[keep], y[keep], categorical_feature=["sid"]), self.rounds)
        xt = self._frame(test, test_ns, horizon, history.freq)[list(x.columns)]
        pred = np.expm1(booster.predict(xt) + xt["level"].to_numpy())
        pred = np.where(np.isfinite(pred), pred, 0.0)
        return np.maximum(pred, 0.0).reshape(len(history.values), horizon)


_STEP = {"h": pd.Timedelta(hours=1), "D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7)}
