"""Out-of-stock to action end to end: a real edge ShelfMonitor (scripted detections on one row of three slots)
raises shelf events that go through the edge's outbox and MQTT publisher, a real Mosquitto and the collector
``smartstore collector run`` starts (ingest + API on uvicorn, a fitted recommender) into
``GET /stores/s1/shelf-actions`` and the dashboard's shelf-actions panel (collector/web/shelf.js) in headless
Chromium: the empty slot with how long it has been open and its substitutes, the planogram violation, the slot
states; then the slot is restocked and the product put right, and both leave the API and the panel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from collector.config import load_config
from collector.recommend.data import load_baskets
from collector.recommend.recommender import Recommender
from collector.service import Collector
from contract import Event
from edge.analytics.shelf_monitor import ShelfMonitor
from edge.config import MqttConfig
from edge.mqtt import Publisher
from edge.outbox import Outbox
from edge.vision.detections import Detections
from tests.collector.conftest import wait_for
from tests.collector.test_dashboard import CHROMIUM, FLAGS
from tests.edge.analytics.test_shelf_state import FPS, SLOTS, config, products
from tools.broker import LocalBroker as Mosquitto
from tools.broker import free_port

ADMIN = "configured-admin-token-shelf-panel"
MILK = SLOTS["B"]  # Arla-Standard-Milk: the slot that goes empty
WRONG = {"C": SLOTS["A"]}  # Oatly-Oat-Milk seen where Bravo-Apple-Juice belongs


def _recommender(path: Path) -> Path:
    """Two other milks bought in the same kinds of baskets as Arla-Standard-Milk."""
    kinds = [(MILK, "Cereal"), ("Arla-Medium-Fat-Milk", "Cereal"), ("Arla-Ecological-Medium-Fat-Milk", "Cereal"),
             ("Bread", "Butter")]
    lines = [(t, item) for t in range(40) for item in kinds[t % 4]]
    return Recommender.fit(load_baskets(pd.DataFrame(lines, columns=["transaction_id", "item"]))).save(path)


class Edge:
    """The edge side: a ShelfMonitor whose events go through the outbox and the MQTT publisher, as EdgeService
    emits them (``Event.from_record`` with the camera)."""

    def __init__(self, tmp_path: Path, port: int, t0: float) -> None:
        self.monitor = ShelfMonitor(config(snapshot_every_s=20.0))
        self.outbox = Outbox(tmp_path / "outbox.db")
        self.publisher = Publisher(MqttConfig(host="127.0.0.1", port=port), "s1", "shelf-box", self.outbox)
        self.t0, self.frames = t0, 0
        self.kinds: list[str] = []

    def run(self, seconds: float, stocked: dict[str, str | None]) -> None:
        for _ in range(round(seconds * FPS)):
            boxes, skus = products(stocked)
            frame = self.monitor.update(boxes, skus, Detections.empty(), Detections.empty(),
                                        self.t0 + self.frames / FPS)
            self.frames += 1
            events = [Event.from_record(r, "s1", "shelf-box", "aisle-3") for r in frame.events]
            self.kinds += [e.kind for e in events]
            if events:
                self.outbox.enqueue(events)
                self.publisher.notify()


@pytest.fixture
def running(broker: Mosquitto, tmp_path: Path) -> Iterator[tuple[Collector, Edge]]:
    cfg = load_config(None, {"store": str(tmp_path / "c.db"), "mqtt.port": broker.port,
                             "mqtt.client_id": "collector-shelf-e2e", "rollouts.enabled": False,
                             "recommender.model": str(_recommender(tmp_path / "rec.npz")),
                             "api.token": ADMIN, "api.port": free_port(), "forecast.schedule.enabled": False})
    collector = Collector(cfg)
    collector.start()
    assert collector.wait_ready(15)
    edge = Edge(tmp_path, broker.port, time.time() - 90)
    edge.publisher.start()
    assert edge.publisher.wait_connected(10)
    yield collector, edge
    edge.publisher.stop(flush_timeout=1)
    edge.outbox.close()
    collector.stop()


def _actions(collector: Collector) -> dict[str, Any]:
    response = httpx.get(f"{collector.url}/api/v1/stores/s1/shelf-actions",
                         headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.slow
def test_shelf_events_to_actions_in_api_and_panel(running: tuple[Collector, Edge]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make test does this as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    collector, edge = running
    edge.run(2, {})  # all stocked
    edge.run(38, {"B": None, **WRONG})  # B empty for 38 s, C showing the wrong product
    assert "shelf.out_of_stock" in edge.kinds and "shelf.planogram_violation" in edge.kinds
    wait_for(lambda: len(_actions(collector)["violations"]) == 1 and len(_actions(collector)["out_of_stock"]) == 1
             and _actions(collector)["shelves"][0]["ts"] > edge.t0 + 19, what="the shelf events in the API")
    body = _actions(collector)
    [oos] = body["out_of_stock"]
    assert (oos["shelf"], oos["slot"], oos["sku"], oos["camera"], oos["device"]) == (
        "bay-1", "B", MILK, "aisle-3", "shelf-box")
    assert oos["start"] == pytest.approx(edge.t0 + 7, abs=0.5)  # gap seen at 2 s, raised after 5 s
    assert oos["open_s"] == pytest.approx(time.time() - oos["start"], abs=5)
    subs = [s["item"] for s in oos["substitutes"]]
    assert sorted(subs) == ["Arla-Ecological-Medium-Fat-Milk", "Arla-Medium-Fat-Milk"], subs  # not Bread: score 0
    [bad] = body["violations"]
    assert (bad["slot"], bad["expected_sku"], bad["observed_sku"], bad["confidence"]) == ("C", SLOTS["C"], SLOTS["A"],
                                                                                          1.0)
    assert [(v["slot"], v["state"]) for v in body["shelves"][0]["slots"]] == [("A", "stocked"), ("B", "empty"),
                                                                              ("C", "wrong")]
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 1400})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{collector.url}/dashboard/#token={ADMIN}")
        page.wait_for_selector("#shelf-oos td:has-text('bay-1 / B')", timeout=30_000)
        cells = page.locator("#shelf-oos tr").first.locator("td").all_inner_texts()
        assert cells[:3] == ["bay-1 / B", MILK, "aisle-3"]
        assert cells[3] in ("1 min", "2 min"), cells  # open about 83 s
        assert page.locator("#shelf-oos tr").first.locator(".sub-item").all_inner_texts() == subs
        vcells = page.locator("#shelf-violations tr").first.locator("td").all_inner_texts()
        assert vcells[:4] == ["bay-1 / C", SLOTS["C"], SLOTS["A"], "100%"], vcells
        assert page.locator("#shelf-states .pill").all_inner_texts()[:3] == ["A: stocked 85%", "B: empty 0%",
                                                                             "C: wrong 85%"]
        assert page.inner_text("#shelf-note") == "2 open actions"
        # restocked and put right: the restock clears the alert, the next snapshot closes the violation
        edge.run(35, {})
        wait_for(lambda: not _actions(collector)["out_of_stock"] and not _actions(collector)["violations"],
                 what="the restock and the corrected slot in the API")
        page.wait_for_selector("#shelf-oos td:has-text('no shelf is out of stock')", timeout=15_000)
        page.wait_for_selector("#shelf-violations td:has-text('every recognised product')", timeout=15_000)
        assert page.inner_text("#shelf-note") == "0 open actions"
        browser.close()
    assert edge.kinds.count("shelf.restocked") == 1
    assert errors == []
