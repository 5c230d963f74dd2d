"""Pricing over a real store (SQLite and PostgreSQL): demand bounds from the real forecaster, the substitute
promotion from a fitted recommender over an out-of-stock event (and none for a substitute its reviews rate
poorly), max change across evaluations, the audit rows, and the approval flow (pending, approve, reject,
supersede, auto-approve with its label push)."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from collector.pricing.approval import approve, reject
from collector.pricing.book import PricingError
from collector.pricing.evaluate import evaluate_store
from collector.pricing.pushes import PushQueue
from collector.store import Store
from tests.collector.pricing_helpers import DAY, config, fitted_recommender, out_of_stock, sales_rows, seeded

NOW = time.time()


def by_sku(result: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["sku"]): r for r in result}


def test_demand_bounds_come_from_the_forecaster(store: Store, store_url: tuple[str, str | None],
                                                tmp_path: Path) -> None:
    seeded(store, NOW)
    store.import_sales(sales_rows("s1", "milk", NOW, 42, lambda i: 100 - 2 * i))  # falling fast
    store.import_sales(sales_rows("s1", "oat-milk", NOW, 42, lambda i: 10 + 2 * i))  # rising
    store.import_sales(sales_rows("s1", "yoghurt", NOW, 5, lambda i: 3))  # too short to forecast
    cfg = config(*store_url, pricing={"substitute_percent": 0})
    result = evaluate_store(store, "s1", cfg, NOW)
    rows = by_sku(result.summary())
    reasons = {p.product.sku: {s.rule: s.reason for s in p.steps} for p in result.proposals}
    assert math.isclose(float(rows["milk"]["price"]), 1.8) and rows["milk"]["rules"] == ["demand"]  # -10% bound
    assert "forecast" in reasons["milk"]["demand"] and "bounded to [1.80, 2.20]" in reasons["milk"]["demand"]
    assert 3.0 < float(rows["oat-milk"]["price"]) < 3.3  # rising ~16%: half of it, inside the +10% bound
    assert "bounded" not in reasons["oat-milk"]["demand"]
    assert reasons["milk"]["demand"].startswith("forecast (")  # the model the forecaster chose, then the numbers
    assert "too little sales history" in reasons["yoghurt"]["demand"]
    assert reasons["bread"]["demand"] == "no demand bounds: no forecast: no sales of this SKU in the store"
    off = evaluate_store(store, "s1", config(*store_url, pricing={"demand.enabled": False}), NOW + 1)
    assert {p.product.sku: p.steps[0].reason for p in off.proposals}["milk"] == "no demand bounds: demand rule off"


def test_no_sales_at_all_degrades_with_the_reason(store: Store, store_url: tuple[str, str | None]) -> None:
    seeded(store, NOW)
    result = evaluate_store(store, "s1", config(*store_url), NOW)
    assert {p.steps[0].reason for p in result.proposals} == {"no demand bounds: no forecast: store 's1' has no "
                                                             "sales yet"}


def test_substitutes_of_an_out_of_stock_sku_get_a_promotion(store: Store, store_url: tuple[str, str | None],
                                                             tmp_path: Path) -> None:
    seeded(store, NOW)
    model = fitted_recommender(tmp_path)
    cfg = config(*store_url, pricing={"demand.enabled": False})
    cfg.recommender.model = model
    quiet = by_sku(evaluate_store(store, "s1", cfg, NOW).summary())
    assert quiet["oat-milk"]["price"] == 3.0 and quiet["oat-milk"]["promo"] is None
    out_of_stock(store, "s1", "milk")
    later = evaluate_store(store, "s1", cfg, NOW + 60)
    rows = by_sku(later.summary())
    assert math.isclose(float(rows["oat-milk"]["price"]), 2.7) and rows["oat-milk"]["promo"] == "-10% instead of milk"
    assert rows["milk"]["promo"] is None  # the empty SKU itself gets nothing
    assert rows["bread"]["price"] == 3.0  # not a substitute of milk
    _poorly_reviewed(store, tmp_path, "oat-milk")  # the same recommender now ranks it below three others
    reviewed = by_sku(evaluate_store(store, "s1", cfg, NOW + 90).summary())
    assert reviewed["oat-milk"]["price"] == 3.0 and reviewed["oat-milk"]["promo"] is None
    cfg.recommender.model = tmp_path / "absent.npz"
    missing = evaluate_store(store, "s1", cfg, NOW + 120)
    reason = {p.product.sku: p.steps[2].reason for p in missing.proposals}["oat-milk"]
    assert reason.startswith("no substitutes: recommender.model:") and "absent.npz" in reason


def _poorly_reviewed(store: Store, tmp_path: Path, sku: str) -> None:
    """Fifteen clearly negative reviews, scored by the shipped sentiment models on import."""
    from collector.sentiment.service import import_file

    texts = ["Terrible, it was sour and spoiled", "Awful taste, never again", "Horrible quality, waste of money",
             "Disgusting, went off before the date", "Very bad, tasted like chalk"]
    lines = [f'n{i},{sku},"{texts[i % len(texts)]}"' for i in range(15)]
    (tmp_path / "reviews.csv").write_text("id,sku,text\n" + "\n".join(lines) + "\n")
    import_file(tmp_path / "reviews.csv", "s1", store)


def test_approval_flow_and_audit(store: Store, store_url: tuple[str, str | None]) -> None:
    book = seeded(store, NOW)
    cfg = config(*store_url, pricing={"demand.enabled": False})
    first = evaluate_store(store, "s1", cfg, NOW)
    assert first.state == "pending" and set(first.changed) == {"milk", "oat-milk", "yoghurt", "bread"}
    assert book.current("s1") == {} and len(book.pending("s1")) == 4
    again = evaluate_store(store, "s1", cfg, NOW + 10)
    assert again.changed == {} and len(book.pending("s1")) == 4  # the same proposals: nothing new
    yoghurt = first.changed["yoghurt"]
    approved = approve(book, cfg.pricing, yoghurt, "alice", "checked the shelf", now=NOW + 20)
    assert approved["state"] == "approved" and approved["decided_by"] == "alice"
    assert math.isclose(book.current("s1")["yoghurt"]["price"], 0.8)  # -20%: expires in 2 days
    assert book.current("s1")["yoghurt"]["was"] == 1.0 and book.current("s1")["yoghurt"]["promo"] == "-20% short date"
    rejected = reject(book, first.changed["bread"], "bob", "keep it", now=NOW + 21)
    assert rejected["state"] == "rejected" and "bread" not in book.current("s1")
    with pytest.raises(PricingError, match="is approved, not pending"):
        approve(book, cfg.pricing, yoghurt, "alice")
    with pytest.raises(PricingError, match="no price with id"):
        reject(book, "0" * 32, "bob")
    # a day and a half later yoghurt expires within a day: -50% wanted, 30% a day from 0.80 allowed (0.56), the
    # floor 0.40 not reached; the pending milk price is superseded when its proposal changes
    milk = book.product("s1", "milk")
    assert milk is not None
    book.upsert_products([replace(milk, expiry=NOW + 2 * DAY)])
    later = evaluate_store(store, "s1", cfg, NOW + 1.5 * DAY)
    assert book.price(first.changed["milk"])["state"] == "superseded"
    assert later.changed["milk"] in {r["id"] for r in book.pending("s1")}
    assert book.price(later.changed["milk"])["price"] == 1.2
    assert book.audit_log("s1", "milk")[1]["reason"] == f"replaced by {later.changed['milk']}"
    new = later.changed["yoghurt"]
    assert math.isclose(book.price(new)["price"], 0.56)
    assert "max_change" in by_sku(later.summary())["yoghurt"]["rules"]
    audit = book.audit_log("s1", "yoghurt")
    assert [(a["action"], a["actor"]) for a in audit] == [("proposed", "evaluation"), ("approved", "alice"),
                                                          ("not_pushed", "pricing"), ("proposed", "evaluation")]
    proposed = audit[-1]
    assert [r["rule"] for r in proposed["rules"]] == ["demand", "markdown", "substitute", "max_change",
                                                      "floor_ceiling"]
    assert "-50% of base" in proposed["reason"] and "limited to 30% a day from 0.80" in proposed["reason"]
    assert audit[2]["reason"] == "no label gateway for store s1 (pricing.gateways)"


def test_auto_approve_pushes_labelled_products(store: Store, store_url: tuple[str, str | None]) -> None:
    book = seeded(store, NOW)
    cfg = config(*store_url, pricing={"demand.enabled": False, "auto_approve": True, "gateways": {"s1": "labels-gw"}})
    result = evaluate_store(store, "s1", cfg, NOW)
    assert result.state == "approved" and book.pending("s1") == []
    assert set(book.current("s1")) == {"milk", "oat-milk", "yoghurt", "bread"}
    pushes = {p["sku"]: p for p in PushQueue(book).pushes("s1")}
    assert set(pushes) == {"milk", "oat-milk", "yoghurt"}  # bread has no label
    assert {p["device"] for p in pushes.values()} == {"labels-gw"} and {p["state"] for p in pushes.values()} == {
        "pending"}
    assert book.audit_log("s1", "bread")[-1]["reason"] == "the product has no shelf label (price list column label)"
    assert [a["actor"] for a in book.audit_log("s1", "milk")] == ["evaluation", "auto"]


def test_a_pending_price_the_rules_no_longer_give_is_withdrawn(store: Store, store_url: tuple[str, str | None]) -> None:
    book = seeded(store, NOW)
    cfg = config(*store_url, pricing={"demand.enabled": False})
    first = evaluate_store(store, "s1", cfg, NOW)
    approve(book, cfg.pricing, first.changed["yoghurt"], "alice", now=NOW + 1)
    yoghurt = book.product("s1", "yoghurt")
    assert yoghurt is not None
    book.upsert_products([replace(yoghurt, expiry=None)])  # the short-dated batch sold out: back to base?
    back = evaluate_store(store, "s1", cfg, NOW + 60)
    assert book.price(back.changed["yoghurt"])["price"] == 1.0 and book.price(back.changed["yoghurt"])["state"] == \
        "pending"
    book.upsert_products([yoghurt])  # no: the batch is still there
    again = evaluate_store(store, "s1", cfg, NOW + 120)
    assert "yoghurt" not in again.changed and book.price(back.changed["yoghurt"])["state"] == "superseded"
    assert book.audit_log("s1", "yoghurt")[-1]["reason"] == "the rules give the current price again"
    assert {r["sku"] for r in book.pending("s1")} == {"milk", "oat-milk", "bread"}
