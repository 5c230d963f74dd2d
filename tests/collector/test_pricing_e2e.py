"""A price change made in the collector reaches the shelf labels end to end: the collector (its label pusher) ->
a real Mosquitto -> a real EdgeService with fleet: and labels: -> a simulated OpenEPaperLink access point (HTTP)
and a simulated serial gateway (pty), both from tests/hardware/label_gateways.py, as the edge's own tests use them.
Within 5 s; through a broker outage (the price approved while the broker is down lands once it is back); never
applied twice (a re-send of the same command after it was applied changes no label)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.config import load_config
from collector.pricing.approval import approve
from collector.pricing.book import PriceBook
from collector.pricing.evaluate import evaluate_store
from collector.pricing.products import Product
from collector.pricing.pushes import PushQueue
from collector.service import Collector
from edge.service import EdgeService
from tests.collector.conftest import wait_for
from tests.edge.fleet.helpers import Fleet, Requester
from tests.edge.fleet.test_set_prices import MAC1, _config, ap, radio
from tests.hardware.label_gateways import AccessPoint, SerialGateway, labels_section
from tools.broker import LocalBroker as Mosquitto

__all__ = ["ap", "radio"]  # the edge tests' fixtures: a simulated access point and serial gateway
SERIAL_TAG = "tag-7"


@pytest.fixture
def edge(broker: Mosquitto, tmp_path: Path, ap: AccessPoint, radio: SerialGateway) -> Iterator[EdgeService]:
    """Store s1's box d1: a real EdgeService (cameras not running) with its command channel and labels."""
    (tmp_path / "box").mkdir()
    service = EdgeService(_config(tmp_path, Fleet(tmp_path / "box"), broker.port, labels_section(ap, radio)))
    service.publisher.start()
    assert service.publisher.wait_connected(10)
    yield service
    assert service.fleet is not None
    service.fleet.stop()
    service.publisher.stop(flush_timeout=1)
    service.outbox.close()


@pytest.fixture
def collector(broker: Mosquitto, tmp_path: Path) -> Iterator[Collector]:
    config = load_config(None, {"store": str(tmp_path / "collector.db"), "mqtt.port": broker.port,
                                "mqtt.client_id": "collector-e2e", "rollouts.enabled": False,
                                "recommender.model": str(tmp_path / "none.npz"),
                                "pricing.gateways": {"s1": "d1"}, "pricing.demand.enabled": False,
                                "pricing.push.poll_s": 0.1, "pricing.push.retry_min_s": 0.5,
                                "pricing.push.retry_max_s": 1.0})
    instance = Collector(config, api=False)
    instance.start()
    assert instance.wait_ready(15)
    yield instance
    instance.stop()


def _approve_all(c: Collector) -> list[str]:
    book = PriceBook(c.store)
    evaluate_store(c.store, "s1", c.config)
    ids = [row["id"] for row in book.pending("s1")]
    for price_id in ids:
        approve(book, c.config.pricing, price_id, "e2e")
    return ids


def _settled(c: Collector, ids: list[str]) -> bool:
    states = {p["price_id"]: p["state"] for p in PushQueue(PriceBook(c.store)).pushes("s1")}
    return all(states.get(i) in ("applied", "failed") for i in ids)


def test_price_change_reaches_http_and_serial_labels_once(broker: Mosquitto, collector: Collector,
                                                          edge: EdgeService, ap: AccessPoint,
                                                          radio: SerialGateway) -> None:
    book = PriceBook(collector.store)
    now = time.time()
    book.upsert_products([Product("s1", "milk", 2.00, 1.20, "EUR", 2.50, None, "Milk 1l", MAC1),
                          Product("s1", "yoghurt", 1.00, 0.40, "EUR", 1.50, now + 2 * 86400, "Yoghurt", SERIAL_TAG)])
    time.sleep(1.0)  # the pusher's own connection (client id collector-e2e-pricing-fleet) is up by now
    started = time.monotonic()
    first = _approve_all(collector)
    wait_for(lambda: _settled(collector, first) and radio.shown.get(SERIAL_TAG) is not None
             and ap.shown(MAC1) is not None, 5.0, "both labels and the acknowledgements within 5 s")
    elapsed = time.monotonic() - started
    print(f"approve -> both labels shown and acknowledged in the collector: {elapsed:.2f} s")
    pushes = {p["sku"]: p for p in PushQueue(book).pushes("s1")}
    assert {p["state"] for p in pushes.values()} == {"applied"}, pushes
    assert radio.shown[SERIAL_TAG]["price"] == "0.80"  # yoghurt: -20%, two days to expiry
    assert len(ap.uploads) == 1 and sum(f[0] == "PRICE" for f in radio.received) == 1
    assert book.audit_log("s1", "milk")[-1]["action"] == "push_applied"

    # a re-send of the same, already applied command (a collector that missed the reply): no label changes
    queue = PushQueue(book)
    command = queue.command(pushes["milk"]["command_id"])
    requester = Requester(broker.port)
    try:
        requester.send(command, b"again")
        wait_for(lambda: any(r.id == command.id and r.state == "applied" for _, r in requester.wait(0, 0)), 10,
                 "the recorded reply again")
        assert any(r.detail.get("duplicate") for _, r in requester.wait(0, 0) if r.id == command.id)
    finally:
        requester.close()
    assert len(ap.uploads) == 1 and sum(f[0] == "PRICE" for f in radio.received) == 1

    # broker outage: a new price approved while it is down lands once it is back, applied once
    broker.stop()
    book.upsert_products([Product("s1", "yoghurt", 1.00, 0.40, "EUR", 1.50, now + 0.5 * 86400, "Yoghurt",
                                  SERIAL_TAG)])
    later = _approve_all(collector)  # -50% wanted, 30% a day from 0.80 allowed: 0.56
    time.sleep(2.0)
    assert {p["state"] for p in PushQueue(book).pushes("s1") if p["price_id"] in later} == {"pending"}
    broker.start()
    wait_for(lambda: _settled(collector, later), 30, "the push after the outage")
    assert radio.shown[SERIAL_TAG]["price"] == "0.56"
    assert sum(f[0] == "PRICE" for f in radio.received) == 2 and len(ap.uploads) == 1
    after = [p for p in PushQueue(book).pushes("s1") if p["price_id"] in later]
    assert [p["state"] for p in after] == ["applied"] and after[0]["attempts"] >= 2
