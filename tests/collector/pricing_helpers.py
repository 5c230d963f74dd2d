"""Shared pieces of the pricing tests: a price list, sale history with a demand trend, an out-of-stock event
through the store's write path, and a recommender fitted on baskets where oat milk stands in for milk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from collector.config import CollectorConfig, load_config
from collector.pricing.book import PriceBook
from collector.pricing.products import Product
from collector.validation import check_event
from contract import Event

DAY = 86400.0


def products(now: float, store: str = "s1") -> list[Product]:
    return [
        Product(store, "milk", 2.00, 1.20, "EUR", 2.50, None, "Milk 1l", "0000021EC9EC743A"),
        Product(store, "oat-milk", 3.00, 2.00, "EUR", None, None, "Oat drink", "0000021EC9EC7440"),
        Product(store, "yoghurt", 1.00, 0.40, "EUR", 1.50, now + 2 * DAY, "Yoghurt", "LBL-7"),
        Product(store, "bread", 3.00, 2.50, "EUR", 3.30, None, "Bread", None),
    ]


def sales_rows(store: str, sku: str, now: float, days: int, per_day: Any) -> list[tuple[Any, ...]]:
    """Sale lines ``(id, store, sku, qty, price, receipt, ts, source)``: ``per_day(i)`` units on day i (0 oldest)
    of the ``days`` complete days before ``now``'s day."""
    today = pd.Timestamp(now, unit="s").floor("D").timestamp()
    rows = []
    for i in range(days):
        ts = today - (days - i) * DAY + 12 * 3600
        rows.append((f"{store}-{sku}-{i}", store, sku, float(per_day(i)), None, f"r{i}", ts, "test"))
    return rows


def out_of_stock(store: Any, store_id: str, sku: str, seq: int = 0) -> None:
    """An open shelf.out_of_stock interval for ``sku``, written by the store's own write path."""
    event = Event("shelf.out_of_stock", store_id, "shelf-cam", seq, {"shelf": "dairy", "slot": "3", "sku": sku},
                  camera="aisle-3")
    store.write_batch([check_event(event.topic(), event.to_json())])


def fitted_recommender(folder: Path) -> Path:
    """Milk and oat milk are bought with the same things, never together: each is the other's top substitute."""
    from collector.recommend.data import load_baskets
    from collector.recommend.recommender import Recommender

    lines = []
    for t in range(60):
        main = "milk" if t % 2 else "oat-milk"
        others = [("coffee", "cereal"), ("coffee", "bread"), ("cereal", "banana")][t % 3]
        lines += [(t, main), *((t, o) for o in others)]
    for t in range(60, 90):
        lines += [(t, "bread"), (t, "butter"), (t, "jam")]
    frame = pd.DataFrame(lines, columns=["transaction_id", "item"])
    return Recommender.fit(load_baskets(frame)).save(folder / "rec.npz")


def config(db: str, schema: str | None = None, pricing: dict[str, Any] | None = None) -> CollectorConfig:
    """The collector config over ``db`` with ``pricing`` overrides (dotted keys under ``pricing.``)."""
    return load_config(None, {"store": db, "schema_name": schema, "api.token": "test-token-123",
                              **{f"pricing.{k}": v for k, v in (pricing or {}).items()}})


def seeded(store: Any, now: float) -> PriceBook:
    book = PriceBook(store)
    book.upsert_products(products(now))
    return book
