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
    res = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out)
    assert len(table) == 28 and list(table.columns) == ["unique_id", "ds", "model", "forecast", "lo80", "hi80",
                                                        "lo95", "hi95"]
    assert table["ds"].min() == "2024-03-25" and table["ds"].max() == "2024-04-07"
    milk = table[table["unique_id"] == "milk"]["forecast"].to_numpy()
    assert 35 < milk[:5].mean() < 45 and milk[5:7].mean() > 1.3 * milk[:5].mean()  # the weekend lift is forecast
    replen = {r["series_id"]: r for r in res["replenishment"]}
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
    assert len(fc) == 7 and fc[0]["ds"] == "2024-03-01T00:00:00" and fc[1]["forecast"] == pytest.approx(15.0)
    bad = client.post("/forecasts", json={"freq": "D", "horizon": 7, "points": points[:5]})
    assert bad.status_code == 422 and "too short for the season" in bad.json()["detail"]


def test_forecast_from_collector_store(tmp_path: Path, shared_data: Path) -> None:
    from collector.sales import read_sales
    from collector.store import open_store

    store = open_store(str(tmp_path / "collector.db"))
    try:
        keep = {"Coffee", "Bread", "Tea", "Gift voucher"}  # a short-lived SKU is skipped, not fatal
        rows = [r for r in read_sales(shared_data / "bakery" / "BreadBasket_DMS.csv", "bakery") if r[2] in keep]
        store.import_sales(rows)
        res = forecast_from_store(store, "bakery", "sales", 7, holidays="GB/SCT", models="seasonal_mean")
        assert set(res.chosen) == {"Coffee", "Bread", "Tea"} and len(res.table) == 21
        assert res.skipped == ["Gift voucher"]
        coffee = res.table[res.table["unique_id"] == "Coffee"]
        assert coffee["ds"].min() == pd.Timestamp("2017-04-10") and coffee["forecast"].mean() > 20
        app = FastAPI()
        app.include_router(make_router(store))
        r = TestClient(app).post("/stores/bakery/replenishment", json={"stock": {"Coffee": 10}, "lead_time": 3})
        assert r.status_code == 200, r.text
        assert r.json()[0]["series_id"] == "Coffee" and r.json()[0]["suggested_order"] > 50
    finally:
        store.close()
