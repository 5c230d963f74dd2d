"""``smartstore forecast`` and the forecast API router, end to end on files and on a real SQLite collector store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import smartstore
from collector.forecast.api import forecast_from_store, make_router
from collector.forecast.settings import ScheduleConfig


def _daily_csv(path: Path, days: int = 84) -> Path:
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = []
    for sku, level in (("milk", 40.0), ("bread", 15.0)):
        y = rng.poisson(level * np.where(ts.dayofweek >= 5, 1.6, 1.0))
        rows.append(pd.DataFrame({"series_id": sku, "timestamp": ts.strftime("%Y-%m-%d"), "value": y}))
    pd.concat(rows).to_csv(path, index=False)
    return path


def test_forecast_cli_writes_csv_and_replenishment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _daily_csv(tmp_path / "sales.csv")
    (tmp_path / "stock.csv").write_text("series_id,stock\nmilk,30\nbread,500\n")
    out = tmp_path / "fc.csv"
    code = smartstore.main(["forecast", "--input", str(data), "--freq", "D", "--horizon", "14", "--out", str(out),
                            "--models", "seasonal_mean,theta", "--stock", str(tmp_path / "stock.csv"), "--json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON lines
    res = lines[-1]
    table = pd.read_csv(out)
    assert len(table) == 28 and list(table.columns) == ["series_id", "timestamp", "model", "forecast", "lo80", "hi80",
                                                        "lo95", "hi95"]  # the input's column names
    assert table["timestamp"].min() == "2024-03-25" and table["timestamp"].max() == "2024-04-07"
    milk = table[table["series_id"] == "milk"]["forecast"].to_numpy()
    assert 35 < milk[:5].mean() < 45 and milk[5:7].mean() > 1.3 * milk[:5].mean()  # the weekend lift is forecast
    replen = {r["series_id"]: r for r in lines if r["record"] == "replenishment"}
    assert sum(r["record"] == "forecast" for r in lines) == 28 and res["record"] == "summary"
    assert replen["milk"]["suggested_order"] > 0 and replen["bread"]["suggested_order"] == 0
    assert set(res["chosen"]) == {"milk", "bread"}


def test_forecast_cli_backtest_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _daily_csv(tmp_path / "sales.csv")
    code = smartstore.main(["forecast", "--input", str(data), "--freq", "D", "--horizon", "7", "--backtest",
                            "--folds", "3", "--models", "seasonal_mean"])
    out = capsys.readouterr().out
    assert code == 0 and "seasonal_naive" in out and "selected vs seasonal naive" in out and "80%" in out


def test_forecast_cli_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _daily_csv(tmp_path / "sales.csv")
    for extra, message in ((["--models", "prophet"], "unknown model 'prophet'"),
                           (["--holidays", "ZZ"], "unknown public-holiday calendar 'ZZ'"),
                           (["--backtest", "--folds", "40"], "backtest folds")):
        code = smartstore.main(["forecast", "--input", str(data), "--freq", "D", "--horizon", "7", *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err, err


def test_forecast_api_posted_table() -> None:
    app = FastAPI()
    app.include_router(make_router())
    client = TestClient(app)
    ts = pd.date_range("2024-01-01", periods=60, freq="D")
    points = [{"series_id": "a", "timestamp": str(t.date()), "value": float(10 + (t.dayofweek >= 5) * 5)} for t in ts]
    r = client.post("/forecasts", json={"freq": "D", "horizon": 7, "points": points, "models": "seasonal_mean"})
    assert r.status_code == 200, r.text
    fc = r.json()["forecasts"]
    assert len(fc) == 7 and fc[0]["timestamp"] == "2024-03-01T00:00:00" and fc[1]["forecast"] == pytest.approx(15.0)
    bad = client.post("/forecasts", json={"freq": "D", "horizon": 7, "points": points[:5]})
    assert bad.status_code == 422 and "has 5 'D' points, fewer than the 18" in bad.json()["detail"]


def test_forecast_from_collector_store(tmp_path: Path, shared_data: Path) -> None:
    from collector.sales import read_sales
    from collector.store import open_store

    store = open_store(str(tmp_path / "collector.db"))
    try:
        keep = {"Coffee", "Bread", "Tea", "Gift voucher", "Raw bars"}  # sold for the last 27 and 12 days
        rows = [r for r in read_sales(shared_data / "bakery" / "BreadBasket_DMS.csv", "bakery") if r[2] in keep]
        store.import_sales(rows)
        res = forecast_from_store(store, "bakery", "sales", 7, holidays="GB/SCT", models="seasonal_mean")
        assert set(res.chosen) == {"Coffee", "Bread", "Tea", "Gift voucher"} and len(res.table) == 28
        assert res.skipped == ["Raw bars"]  # under the 18 days a 7-day forecast needs: skipped, not fatal
        assert len(res.warnings) == 1 and "'Gift voucher' (27 points)" in res.warnings[0]
        coffee = res.table[res.table["unique_id"] == "Coffee"]
        assert coffee["ds"].min() == pd.Timestamp("2017-04-10") and coffee["forecast"].mean() > 20
        app = FastAPI()
        schedule = ScheduleConfig.model_validate({"anchor": "data", "models": "seasonal_mean", "demand_horizon_d": 7,
                                                  "holidays": "GB/SCT"})
        app.include_router(make_router(store, schedule))
        client = TestClient(app)
        client.post("/stores/bakery/forecast/refresh").raise_for_status()  # replenishment reads stored forecasts
        r = client.post("/stores/bakery/replenishment", json={"stock": {"Coffee": 10}, "lead_time": 3})
        assert r.status_code == 200, r.text
        assert r.json()[0]["series_id"] == "Coffee" and r.json()[0]["suggested_order"] > 50
    finally:
        store.close()


def test_footfall_forecast_from_collector_events(tmp_path: Path) -> None:
    """footfall.crossing events -> the store's hourly roll-up -> an hourly forecast of people in."""
    from collector.forecast.api import store_table
    from collector.store import open_store
    from collector.validation import Accepted

    rng = np.random.default_rng(0)
    hours = pd.date_range("2025-03-03", periods=21 * 24, freq="h", tz="UTC")
    profile = np.clip(np.sin((hours.hour.to_numpy() - 7) / 13 * np.pi), 0, None)
    counts = rng.poisson(12 * profile * np.where(hours.dayofweek >= 5, 0.5, 1.0))
    events, seq = [], 0
    for h, n in zip(hours, counts, strict=True):
        for k in range(int(n)):
            seq += 1
            ts = h.timestamp() + 60 * (k % 60)
            events.append(Accepted(f"e{seq}", "footfall.crossing", "shop1", "cam-a", "door", seq, ts,
                                   {"line": "door", "direction": "in" if k % 4 else "out"}, "{}"))
    store = open_store(str(tmp_path / "collector.db"))
    try:
        store.write_batch(events)
        table = store_table(store, "shop1", "footfall")
        got = table.set_index("timestamp")["value"]
        want = pd.Series([n - (n + 3) // 4 for n in counts], index=hours.tz_localize(None), dtype=float)
        first, last = want[want > 0].index[[0, -1]]
        assert got.index[0] == first and got.index[-1] == last  # empty night hours come back as zeros
        assert np.array_equal(got.to_numpy(), want[first:last].to_numpy())
        res = forecast_from_store(store, "shop1", "footfall", 24, models="seasonal_mean",
                                  until=pd.Timestamp("2025-03-23 23:00"))
        fc = res.table
        assert len(fc) == 24 and fc["ds"].iloc[0] == pd.Timestamp("2025-03-24 00:00")
        night, day = fc["forecast"].iloc[2], fc["forecast"].iloc[13]
        assert night < 1.0 < 5.0 < day  # the daily profile is forecast
    finally:
        store.close()
