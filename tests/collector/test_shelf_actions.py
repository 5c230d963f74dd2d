"""GET /stores/{id}/shelf-actions (collector/shelf_actions.py) over a store on SQLite and PostgreSQL: open
out-of-stock slots with how long they are open and the recommender's substitutes (down-weighted by poor reviews as
/substitutes ranks them), planogram violations open until a later snapshot shows the slot right, shelf states."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.config import load_config
from collector.recommend.data import load_baskets
from collector.recommend.recommender import Recommender
from collector.sentiment.rollup import substitute_weights
from collector.service import extra_routers
from collector.shelf_actions import shelf_actions
from collector.store import Store
from collector.validation import check_event
from contract import Event

TOKEN = "shelf-actions-admin"


def _write(store: Store, events: list[Event]) -> None:
    store.write_batch([check_event(e.topic(), e.to_json()) for e in events], [], [])  # type: ignore[misc]


def _event(kind: str, seq: int, ts: float, data: dict[str, Any], device: str = "shelf-box") -> Event:
    return Event(kind, "s1", device, seq, data, camera="aisle-3", ts=datetime.fromtimestamp(ts, UTC))


def _slots(**states: str) -> list[dict[str, Any]]:
    return [{"slot": s, "row": "top", "state": st, "sku": None, "expected_sku": f"sku-{s}", "fill": 0.5}
            for s, st in states.items()]


def _recommender(tmp_path: Path) -> Path:
    """oat-milk and soy-milk are both bought with the same things as milk; soy-milk is poorly reviewed."""
    lines = [(t, i) for t in range(30) for i in (("milk", "cereal") if t % 3 == 0 else ("oat-milk", "cereal")
                                                 if t % 3 == 1 else ("soy-milk", "cereal"))]
    lines += [(100 + t, "bread") for t in range(5)]
    frame = pd.DataFrame(lines, columns=["transaction_id", "item"])
    return Recommender.fit(load_baskets(frame)).save(tmp_path / "rec.npz")


def test_open_out_of_stock_with_substitutes_and_violations(store: Store, tmp_path: Path) -> None:
    from collector.sentiment.service import import_file

    now = time.time()
    events = [
        _event("shelf.out_of_stock", 0, now - 600, {"shelf": "dairy", "row": "top", "slot": "A", "sku": "milk"}),
        _event("shelf.out_of_stock", 1, now - 300, {"shelf": "dairy", "row": "top", "slot": "B", "sku": "bread"}),
        _event("shelf.restocked", 2, now - 100, {"shelf": "dairy", "row": "top", "slot": "B", "sku": "bread",
                                                 "empty_s": 200.0}),
        _event("shelf.planogram_violation", 3, now - 900, {"shelf": "dairy", "row": "top", "slot": "C",
                                                            "expected_sku": "tea", "observed_sku": "coffee",
                                                            "confidence": 0.75}),
        _event("shelf.planogram_violation", 4, now - 800, {"shelf": "dairy", "row": "top", "slot": "D",
                                                            "expected_sku": "jam", "observed_sku": "honey",
                                                            "confidence": 1.0}),
        # D put right (stocked), C still wrong, E occluded says nothing
        _event("shelf.snapshot", 5, now - 50, {"shelf": "dairy", "compliance": 0.5,
                                               "slots": _slots(A="empty", B="stocked", C="wrong", D="stocked")}),
        _event("shelf.out_of_stock", 0, now - 60, {"shelf": "bakery", "row": "r", "slot": "1", "sku": "unknown-sku"},
               device="other-box"),
    ]
    _write(store, events)
    (tmp_path / "reviews.csv").write_text("id,sku,text\n" + "".join(
        f"r{i},soy-milk,Arrived spoiled. Terrible quality and disgusting taste\n" for i in range(8)))
    import_file(tmp_path / "reviews.csv", "s1", store)
    config = load_config(None, {"recommender.model": str(_recommender(tmp_path))})
    with TestClient(create_app(store, TOKEN, routers=extra_routers(store, config))) as client:
        response = client.get("/api/v1/stores/s1/shelf-actions?k=2", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recommender"] is True
    oos = body["out_of_stock"]
    assert [(a["shelf"], a["slot"], a["sku"]) for a in oos] == [("dairy", "A", "milk"), ("bakery", "1", "unknown-sku")]
    assert oos[0]["open_s"] == pytest.approx(600, abs=30) and oos[1]["open_s"] == pytest.approx(60, abs=30)
    model = Recommender.load(tmp_path / "rec.npz")
    weights = substitute_weights(store, "s1")
    assert weights["soy-milk"] < 1.0  # confidently poorly reviewed
    want = model.substitutes("milk", 2, weights=weights)
    assert [(s["item"], s["score"]) for s in oos[0]["substitutes"]] == [(i, pytest.approx(s)) for i, s in want]
    assert oos[0]["substitutes"][0]["item"] == "oat-milk"  # soy-milk ranks below it: poor reviews
    assert model.substitutes("milk", 2)[0][1] == pytest.approx(model.substitutes("milk", 2)[1][1])  # unweighted: tie
    assert oos[1]["substitutes"] == []  # a SKU the recommender does not know
    assert [(v["slot"], v["expected_sku"], v["observed_sku"]) for v in body["violations"]] == [("C", "tea", "coffee")]
    assert body["violations"][0]["open_s"] == pytest.approx(900, abs=30)
    assert [(s["shelf"], [v["state"] for v in s["slots"]]) for s in body["shelves"]] == [
        ("dairy", ["empty", "stocked", "wrong", "stocked"])]


def test_without_recommender_and_without_events(store: Store) -> None:
    assert shelf_actions(store, "s1", None, now=1.0) == {
        "store": "s1", "now": 1.0, "recommender": False, "out_of_stock": [], "violations": [], "shelves": []}
    _write(store, [_event("shelf.planogram_violation", 0, time.time() - 10,
                          {"shelf": "x", "row": "r", "slot": "1", "expected_sku": "a", "observed_sku": "b",
                           "confidence": 0.5})])
    body = shelf_actions(store, "s1", None)
    assert [v["slot"] for v in body["violations"]] == ["1"]  # no snapshot since: still open


def test_violations_and_snapshots_come_from_the_window_only(store: Store) -> None:
    now = time.time()
    _write(store, [_event("shelf.planogram_violation", 0, now - 30 * 3600,
                          {"shelf": "x", "row": "r", "slot": "old", "expected_sku": "a", "observed_sku": "b",
                           "confidence": 0.5}),
                   _event("shelf.snapshot", 1, now - 26 * 3600, {"shelf": "x", "compliance": 1.0,
                                                                  "slots": _slots(old="wrong")}),
                   _event("shelf.planogram_violation", 2, now - 3600,
                          {"shelf": "x", "row": "r", "slot": "new", "expected_sku": "a", "observed_sku": "c",
                           "confidence": 0.5})])
    body = shelf_actions(store, "s1", None, now=now)  # the default 24 h
    assert [v["slot"] for v in body["violations"]] == ["new"] and body["shelves"] == []
    body = shelf_actions(store, "s1", None, now=now, window_h=48)
    assert [v["slot"] for v in body["violations"]] == ["old", "new"] and [s["ts"] for s in body["shelves"]] == [
        pytest.approx(now - 26 * 3600)]
