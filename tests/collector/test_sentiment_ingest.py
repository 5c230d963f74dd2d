"""``feedback.review`` events end to end: a publisher sends them to a real Mosquitto, the collector (ingest and
API) scores and stores them, a re-sent review id is stored once, and the product's roll-up is served over HTTP."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

from collector.service import Collector
from collector.store import open_store
from contract import Event, validate
from tests.collector.conftest import collector_config, publish_all, publisher, wait_for
from tools.broker import LocalBroker as Mosquitto
from tools.broker import free_port

REVIEWS = [("r1", "The tea tastes stale and the price is far too high.", 1),
           ("r2", "Lovely flavour, arrived quickly. Will buy again!", 5),
           ("r3", "茶叶很香，包装精美，物流很快", None),
           ("r4", "Awful. Bitter taste and the box was crushed in delivery.", 1)]


def review(i: int, rid: str, text: str, rating: int | None, seq: int) -> Event:
    data: dict[str, str | int] = {"sku": "tea-01", "review_id": rid, "text": text, "source": "webshop"}
    if rating is not None:
        data["rating"] = rating
    return Event("feedback.review", "s1", "review-bridge", seq, data, ts=datetime(2026, 11, 30, 12, i, tzinfo=UTC))


def test_reviews_arrive_by_mqtt_and_roll_up(broker: Mosquitto, tmp_path: object) -> None:
    db = f"{tmp_path}/c.db"
    config = collector_config(db, None, broker.port, batch_ms=20)
    config.api.port = free_port()
    events = [review(i, *r, seq=i) for i, r in enumerate(REVIEWS)]
    events.append(review(9, "r2", "a re-send of r2 under a new event id", 5, seq=len(events)))
    for e in events:
        validate(e.to_dict())  # the contract's schema
    collector = Collector(config)
    collector.start()
    pub = publisher(broker.port)
    try:
        assert collector.wait_ready(30)
        publish_all(pub, [(e.topic(), e.to_json()) for e in events])
        check = open_store(db)
        try:
            wait_for(lambda: check.rows("SELECT COUNT(*) AS n FROM events")[0]["n"] == 5, what="5 events stored")
            rows = {r["id"]: r for r in check.rows("SELECT id, text, label, source, rating FROM reviews")}
        finally:
            check.close()
        assert set(rows) == {"r1", "r2", "r3", "r4"}  # r2 once, as first sent
        assert rows["r2"]["text"].startswith("Lovely") and rows["r2"]["source"] == "webshop"
        assert [rows[k]["label"] for k in ("r1", "r2", "r3", "r4")] == ["negative", "positive", "positive", "negative"]
        request = urllib.request.Request(f"{collector.url}/api/v1/stores/s1/products/tea-01/sentiment",
                                         headers={"Authorization": "Bearer test-token-123"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
    finally:
        pub.loop_stop()
        pub.disconnect()
        collector.stop()
    assert body["sku"] == "tea-01" and body["n"] == 4 and body["score"] == 0.5
    assert body["ci_low"] < 0.5 < body["ci_high"]
    aspects = {a["aspect"]: a for a in body["aspects"]}
    assert aspects["taste"]["mentions"] == 3 and aspects["delivery"]["mentions"] == 4  # 包装, 物流: two clauses
    assert aspects["price"]["polarity"] < 0
    assert [r["id"] for r in body["reviews"]] == ["r4", "r3", "r2", "r1"]  # newest first
    assert set(body["reviews"][0]) == {"id", "ts", "label", "score", "text"}
