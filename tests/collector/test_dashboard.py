"""The dashboard in real headless Chromium (Debian's package, driven by Playwright) during a demo run.

The demo pieces run for real: Mosquitto, the collector (ingest + API) on SQLite and the edge service counting
people on vtest.avi. A second device publishes a shelf out-of-stock event so the alerts panel has a row.
``SMARTSTORE_SCREENSHOT=docs/dashboard.png`` saves the screenshot there (how docs/dashboard.png was made).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from contract import Event, status_payload, status_topic
from tests.collector.conftest import publish_all, publisher, wait_for
from tools.demo import STORE, demo_session

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


@pytest.mark.slow
def test_dashboard_shows_live_demo_data(tmp_path: Path, vtest_video: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make test does this as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with demo_session(tmp_path / "demo", once=True, video=vtest_video, api_port=0, pace=True) as demo:
        store = demo.collector.store
        wait_for(lambda: sum(p["in"] for p in store.footfall_series(STORE)) >= 1
                 and sum(p["in"] + p["out"] for p in store.footfall_series(STORE)) >= 3
                 and any(d["state"] == "online" for d in store.devices(STORE)), timeout=240,
                 what="the edge service to count people")
        shelf = publisher(demo.broker.port, "shelf-cam-2")
        publish_all(shelf, [(status_topic(STORE, "shelf-cam-2"), status_payload(STORE, "shelf-cam-2", "online"))],
                    retain=True)
        oos = Event("shelf.out_of_stock", STORE, "shelf-cam-2", 0, {"shelf": "dairy", "slot": "3", "sku": "milk-1l"},
                    camera="aisle-3")
        publish_all(shelf, [(oos.topic(), oos.to_json())])
        wait_for(lambda: len(store.shelf_alerts(STORE)) == 1, what="the shelf alert")
        errors: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(demo.dashboard_url)
            page.wait_for_function(
                "[...document.querySelectorAll('#chart rect.in, #chart rect.out')]"
                ".some(r => parseFloat(r.getAttribute('height')) > 0)", timeout=30_000)
            page.wait_for_selector("#devices .pill.online", timeout=30_000)
            page.wait_for_selector("#alerts td:has-text('dairy / 3')", timeout=30_000)
            devices = page.inner_text("#devices")
            assert "edge-demo" in devices and "shelf-cam-2" in devices
            shown_in = int(page.inner_text("#k-in").replace(",", ""))
            stored_in = sum(p["in"] for p in store.footfall_series(STORE))
            assert 0 < shown_in <= stored_in
            assert page.inner_text("#k-dev").strip() == "2 / 2"
            page.wait_for_timeout(2500)  # one more poll: live updates keep working
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        shelf.loop_stop()
        assert shot.stat().st_size > 20_000
        assert errors == [], errors
        target = os.environ.get("SMARTSTORE_SCREENSHOT")
        if target:
            shutil.copyfile(shot, target)
