"""The dashboard's forecasts panel (collector/web/forecasts.js) in real headless Chromium, served by the real API
(uvicorn, the app ``smartstore collector run`` assembles) over a store whose forecasts the schedule's refresh
computed from real footfall.crossing events and imported sales: the footfall and demand forecast lines with their
80%/95% bands beside the actual series, the series choice (store total, cameras, SKUs), model, backtest error, age."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.config import load_config
from collector.forecast.schedule import refresh_store
from collector.service import build_app
from collector.store import Store, open_store
from tests.collector.forecast_helpers import SKUS, seed
from tests.collector.test_dashboard import CHROMIUM, FLAGS
from tests.collector.test_forecast_schedule import FAST
from tools.broker import free_port

ADMIN = "configured-admin-token-forecast-panel"


@pytest.fixture(params=[True])
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Store]]:
    """The dashboard over the seeded store, its forecasts computed (param True) or not yet (False)."""
    import uvicorn

    config = load_config(None, {"store": str(tmp_path / "c.db"), "api.token": ADMIN,
                                "recommender.model": str(tmp_path / "none.npz"), "forecast.schedule.anchor": "data",
                                **{f"forecast.schedule.{k}": v for k, v in FAST.items()}})
    store = open_store(config.store)
    seed(store)
    if request.param:
        assert all(o.error is None for o in refresh_store(store, "shop1", config.forecast.schedule))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(store, config), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/dashboard/", store
    server.should_exit = True
    thread.join(10)
    store.close()


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


@pytest.mark.slow
def test_forecasts_panel_shows_forecasts_with_bands_beside_actuals(served: tuple[str, Store]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make test does this as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    url, store = served
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 1600})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}#token={ADMIN}")
        page.wait_for_selector("#fc-footfall-chart path.fc-line", timeout=30_000)
        page.wait_for_selector("#fc-sales-chart path.fc-line", timeout=30_000)
        options = page.locator("#fc-footfall-series option").all_inner_texts()
        assert options == ["store total (shop1)", "cam-a", "cam-b"]
        note = page.inner_text("#fc-footfall-note")
        assert re.search(r"48 hours ahead · model seasonal_\w+ · backtest MAE [\d.]+ \(seasonal naive [\d.]+\) · "
                         r"computed \d+ s ago$", note), note
        line = _points(page.get_attribute("#fc-footfall-chart path.fc-line", "d") or "")
        assert len(line) == 48
        band = page.get_attribute("#fc-footfall-chart path.fc-band95", "d") or ""
        assert band.endswith("Z") and len(_points(band)) == 96  # upper edge out, lower edge back
        # the actual series: every stored hour of the 7 days before the forecast, drawn left of it
        actual = _points(page.get_attribute("#fc-footfall-chart path.fc-actual", "d") or "")
        first = store.footfall_series("shop1", bucket="hour")[-1]["t"] + 3600
        want = [r for r in store.footfall_series("shop1", bucket="hour") if r["t"] >= first - 7 * 86400]
        assert len(actual) == len(want) and max(x for x, _ in actual) < min(x for x, _ in line)
        page.select_option("#fc-footfall-series", "camera:cam-b")
        page.wait_for_function("document.querySelector('#fc-footfall-chart path.fc-actual').getAttribute('d')"
                               f".split('L').length !== {len(actual)}", timeout=10_000)
        # demand: 28 days of actual units, then the forecast; milk sells twice as much at weekends
        assert page.locator("#fc-sales-series option").all_inner_texts() == sorted(SKUS)
        page.select_option("#fc-sales-series", "sku:milk")
        page.wait_for_function("document.getElementById('fc-sales-note').textContent.includes('14 days ahead')",
                               timeout=10_000)
        assert len(_points(page.get_attribute("#fc-sales-chart path.fc-actual", "d") or "")) == 28
        heights = sorted({round(200 - 28 - y, 1) for _, y in
                          _points(page.get_attribute("#fc-sales-chart path.fc-line", "d") or "")})
        assert len(heights) == 2 and heights[1] == pytest.approx(2 * heights[0], rel=0.02), heights
        shot: Any = page.screenshot(full_page=True)
        assert len(shot) > 20_000
        browser.close()
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("served", [False], indirect=True)
def test_forecasts_panel_before_any_forecast(served: tuple[str, Store]) -> None:
    """Nothing computed yet: the panel says so and how to compute them, and requests nothing that is not there."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make test does this as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        page = browser.new_page()
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{served[0]}#token={ADMIN}")
        page.wait_for_function("document.getElementById('fc-sales-note') && "
                               "document.getElementById('fc-sales-note').textContent.includes('computed yet')",
                               timeout=30_000)
        assert "forecast-refresh" in page.inner_text("#fc-footfall-note")
        assert page.locator("#fc-footfall-chart path").count() == 0
        browser.close()
    assert errors == []
