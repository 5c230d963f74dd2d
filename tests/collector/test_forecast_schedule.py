"""Scheduled forecasts: the scheduler forecasts from stored footfall events and imported sales and writes them to
the store (SQLite; PostgreSQL when reachable); the API serves the stored ones with their age, 404 before any is
computed; replenishment reads the stored demand forecast; ``smartstore collector forecast-refresh`` computes now."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import smartstore
from collector.config import load_config
from collector.forecast.api import forecast_from_store
from collector.forecast.schedule import ForecastScheduler, refresh_store
from collector.forecast.settings import ScheduleConfig
from collector.forecast.stored import ForecastStore
from collector.service import Collector, build_app
from collector.store import Store, open_store
from tests.collector.conftest import collector_config, wait_for
from tests.collector.forecast_helpers import END, NOW, SKUS, seed

FAST = {"models": "seasonal_mean", "footfall_horizon_h": 48, "demand_horizon_d": 14}
ADMIN = "configured-admin-token-forecasts"


def test_scheduler_writes_forecasts_from_stored_events_and_sales(store: Store) -> None:
    people = seed(store)
    config = ScheduleConfig.model_validate(FAST)
    scheduler = ForecastScheduler(store, config)
    outcomes = scheduler.tick(now=NOW)
    assert [(o.kind, o.level, o.series, o.error) for o in outcomes] == [
        ("footfall", "store", 1, None), ("footfall", "camera", 2, None), ("sales", "sku", 2, None)]
    saved = ForecastStore(store)
    total = saved.load("shop1", "footfall", "store")
    assert total is not None and total.computed_at == NOW and total.horizon == 48
    fc = total.table()
    assert fc["ds"].iloc[0] == END.tz_localize(None) and len(fc) == 48
    # what the forecaster gives on the store's roll-up up to the last complete hour, stored as computed
    direct = forecast_from_store(store, "shop1", "footfall", 48, models="seasonal_mean",
                                 until=pd.Timestamp(NOW, unit="s").floor("h") - pd.Timedelta(hours=1)).table
    for col in ("forecast", "lo80", "hi80", "lo95", "hi95"):
        assert fc[col].to_numpy() == pytest.approx(direct[col].to_numpy(), abs=1e-3)
    assert fc["model"].tolist() == direct["model"].tolist()
    # the total of both cameras: Mondays 13:00 of the past weeks, cameras summed, bound the forecast
    monday13 = [people["cam-a"][i] + people["cam-b"][i] for i in range(13, 21 * 24, 168)]
    assert min(monday13) <= fc["forecast"].iloc[13] <= max(monday13)
    assert fc["forecast"].iloc[2] < 1.0 < fc["forecast"].iloc[13]  # night and day
    assert (fc["lo95"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["hi95"]).all()
    s = total.series[0]
    assert s["series_id"] == "shop1" and s["model"] in ("seasonal_mean", "seasonal_naive")
    assert s["backtest_mae"] > 0 and s["naive_mae"] > 0
    cameras = saved.load("shop1", "footfall", "camera")
    assert cameras is not None and [c["series_id"] for c in cameras.series] == ["cam-a", "cam-b"]
    demand = saved.load("shop1", "sales", "sku")
    assert demand is not None and demand.freq == "D"
    milk = demand.table().query("unique_id == 'milk'")
    weekend = milk["ds"].dt.dayofweek >= 5
    assert milk["forecast"][weekend].to_numpy() == pytest.approx(2 * SKUS["milk"])  # an exact weekly pattern
    assert milk["forecast"][~weekend].to_numpy() == pytest.approx(SKUS["milk"])
    assert scheduler.tick(now=NOW + 60) == []  # fresh: nothing recomputed
    again = scheduler.tick(now=NOW + config.every_s)
    assert len(again) == 3 and saved.load("shop1", "sales", "sku").computed_at == NOW + config.every_s  # type: ignore[union-attr]


def test_a_store_without_data_is_an_outcome_not_an_error(store: Store) -> None:
    store.import_sales([("x1", "empty", "tea", 1.0, 1.0, None, NOW - 86400, "test")])
    outcomes = ForecastScheduler(store, ScheduleConfig.model_validate(FAST)).tick(now=NOW)
    assert {(o.kind, o.level) for o in outcomes if o.error} == {("footfall", "store"), ("footfall", "camera"),
                                                                 ("sales", "sku")}
    assert "has no footfall yet" in outcomes[0].error  # type: ignore[operator]
    assert "no sales series has the 25 steps of history needed" in outcomes[2].error  # type: ignore[operator]


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    config = load_config(None, {"store": str(tmp_path / "c.db"), "api.token": ADMIN,
                                "recommender.model": str(tmp_path / "none.npz"),
                                **{f"forecast.schedule.{k}": v for k, v in FAST.items()}})
    store = open_store(config.store)
    seed(store)
    return TestClient(build_app(store, config), headers={"Authorization": f"Bearer {ADMIN}"})


def test_api_serves_the_stored_forecast_with_its_age(client: TestClient) -> None:
    none = client.get("/api/v1/stores/shop1/forecast/footfall")
    assert none.status_code == 404 and "no footfall forecast (store level) computed for store 'shop1' yet" in \
        none.json()["detail"] and "forecast-refresh" in none.json()["detail"]
    assert client.post("/api/v1/stores/shop1/replenishment", json={"stock": {"milk": 1}}).status_code == 404
    assert client.get("/api/v1/stores/shop1/forecasts").json() == []
    done = client.post("/api/v1/stores/shop1/forecast/refresh")
    assert done.status_code == 200 and [o["series"] for o in done.json()] == [1, 2, 2], done.text
    listed = client.get("/api/v1/stores/shop1/forecasts").json()
    assert [(f["kind"], f["level"], f["series"], f["stale"]) for f in listed] == [
        ("footfall", "camera", 2, False), ("footfall", "store", 1, False), ("sales", "sku", 2, False)]
    body = client.get("/api/v1/stores/shop1/forecast/footfall", params={"level": "camera"}).json()
    assert body["level"] == "camera" and 0 <= body["age_s"] < 600 and body["stale"] is False
    assert {s["series_id"] for s in body["series"]} == {"cam-a", "cam-b"} and len(body["forecasts"]) == 96
    assert set(body["forecasts"][0]) == {"series_id", "timestamp", "forecast", "lo80", "hi80", "lo95", "hi95"}
    wrong = client.get("/api/v1/stores/shop1/forecast/sales", params={"level": "camera"})
    assert wrong.status_code == 422 and "a sales forecast has level(s) sku" in wrong.json()["detail"]


def test_replenishment_uses_the_stored_demand_forecast(client: TestClient) -> None:
    client.post("/api/v1/stores/shop1/forecast/refresh").raise_for_status()
    served = client.get("/api/v1/stores/shop1/forecast/sales").json()
    milk = [p for p in served["forecasts"] if p["series_id"] == "milk"][:5]
    r = client.post("/api/v1/stores/shop1/replenishment", json={"stock": {"milk": 10}, "lead_time": 5})
    assert r.status_code == 200, r.text
    row = r.json()[0]
    demand = sum(p["forecast"] for p in milk)
    safety = math.sqrt(sum((p["hi95"] - p["forecast"]) ** 2 for p in milk))
    assert row["demand"] == pytest.approx(demand, abs=0.01) and row["safety_stock"] == pytest.approx(safety, abs=0.01)
    assert row["suggested_order"] == math.ceil(max(0.0, demand + safety - 10))
    long = client.post("/api/v1/stores/shop1/replenishment", json={"stock": {"milk": 10}, "lead_time": 30})
    assert long.status_code == 422 and "longer than the forecast horizon 14" in long.json()["detail"]


def test_forecast_refresh_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.db")
    store = open_store(db)
    seed(store)
    store.close()
    config = tmp_path / "collector.yaml"
    config.write_text("forecast:\n  schedule:\n" + "".join(f"    {k}: {v}\n" for k, v in FAST.items())
                      + "    anchor: data\n")
    assert smartstore.main(["collector", "forecast-refresh", "--db", db, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "shop1 footfall/store: 1 series" in out and "shop1 sales/sku: 2 series" in out
    store = open_store(db)
    stored = ForecastStore(store).load("shop1", "sales", "sku")
    store.close()
    assert stored is not None and stored.table()["ds"].min() == pd.Timestamp("2025-03-24")  # after the last sale
    assert smartstore.main(["collector", "forecast-refresh", "--db", db, "--store", "nowhere"]) == 2
    assert "nothing could be forecast for store 'nowhere'" in capsys.readouterr().err


def test_collector_run_starts_the_scheduler(tmp_path: Path, broker: Any) -> None:
    """The collector ``collector run`` starts (ingest from a real Mosquitto, no API) forecasts its stored data on
    the schedule's timer, and stops cleanly."""
    db = str(tmp_path / "c.db")
    store = open_store(db)
    seed(store)
    store.close()
    config = collector_config(db, None, broker.port).model_copy(deep=True)
    config.forecast.schedule = ScheduleConfig.model_validate({**FAST, "check_s": 0.2, "anchor": "data"})
    collector = Collector(config, api=False)
    collector.start()
    try:
        assert collector.wait_ready(30)
        wait_for(lambda: len(ForecastStore(collector.store).listing("shop1")) == 3, 60, "the scheduled forecasts")
        assert "forecasts" in {t.name for t in collector._threads if t.is_alive()}
    finally:
        collector.stop()


def test_a_bad_schedule_setting_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text("forecast:\n  schedule:\n    every_s: 5\n")
    assert smartstore.main(["collector", "forecast-refresh", "--db", str(tmp_path / "c.db"),
                            "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "field 'forecast.schedule.every_s'" in err and "(value 5)" in err, err


def test_footfall_without_a_camera_counts_in_the_store_total_only(store: Store) -> None:
    from collector.validation import Accepted

    hours = pd.date_range(END - pd.Timedelta(days=10), END, freq="h", inclusive="left")
    store.write_batch([Accepted(f"e{i}", "footfall.crossing", "nocam", "box-1", None, i, h.timestamp(),
                                {"line": "door", "direction": "in"}, "{}") for i, h in enumerate(hours)])
    outcomes = {(o.kind, o.level): o for o in refresh_store(store, "nocam", ScheduleConfig.model_validate(FAST),
                                                             NOW)}
    assert outcomes[("footfall", "store")].series == 1
    assert outcomes[("footfall", "camera")].error == "store 'nocam' has no footfall per camera yet"
