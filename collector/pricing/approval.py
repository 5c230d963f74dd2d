"""Approving prices: at once (``pricing.auto_approve``) or by a person (``smartstore pricing approve``,
``POST .../prices/{id}/approve``). An approved price becomes the SKU's current price and, when its store has a
label gateway (``pricing.gateways``) and the SKU a label, a label push in the same transaction."""

from __future__ import annotations

import time
from typing import Any

from collector.pricing.book import Also, PriceBook, PricingError
from collector.pricing.pushes import PushQueue
from collector.pricing.settings import PricingConfig


def push_hook(book: PriceBook, config: PricingConfig, store: str, sku: str, label: str | None, now: float) -> Also:
    """What an approval also writes: the label push, or an audit row saying why there is none."""
    device = config.gateways.get(store)

    def also(cur: Any, price_id: str) -> None:
        if device is not None and label is not None:
            PushQueue(book).enqueue(cur, price_id, device, config.push.expiry_s, now)
            return
        why = (f"no label gateway for store {store} (pricing.gateways)" if device is None
               else "the product has no shelf label (price list column label)")
        book.write_audit(cur, price_id, store, sku, now, "not_pushed", "pricing", [], why)

    return also


def approve(book: PriceBook, config: PricingConfig, price_id: str, actor: str, reason: str = "approved",
            now: float | None = None) -> dict[str, Any]:
    """Approve a pending price (:class:`~collector.pricing.book.PricingError` when it is not pending)."""
    now = time.time() if now is None else now
    row = book.price(price_id)
    product = book.product(row["store"], row["sku"])
    label = product.label if product is not None else None
    also = push_hook(book, config, row["store"], row["sku"], label, now)
    return book.decide(price_id, True, actor, reason, now, also)


def reject(book: PriceBook, price_id: str, actor: str, reason: str = "rejected",
           now: float | None = None) -> dict[str, Any]:
    """Reject a pending price: the current price stays."""
    return book.decide(price_id, False, actor, reason, time.time() if now is None else now)


def repush(book: PriceBook, config: PricingConfig, store: str, sku: str, actor: str,
           now: float | None = None) -> dict[str, Any]:
    """Push a SKU's current price again after its push failed for good: a new price row with the same price (a new
    price id, so a new command id; the failed one is never re-sent), approved by ``actor``."""
    now = time.time() if now is None else now
    current = book.current(store).get(sku)
    if current is None:
        raise PricingError(f"store {store} has no current price for {sku!r}")
    pushes = {p["price_id"]: p for p in PushQueue(book).pushes(store, sku)}
    push = pushes.get(current["id"])
    if push is None:
        raise PricingError(f"price {current['id']} was never pushed (no label gateway or no label): nothing to "
                           "re-push")
    if push["state"] != "failed":
        raise PricingError(f"the push of price {current['id']} is {push['state']}, not failed: nothing to re-push")
    product = book.product(store, sku)
    why = f"re-push of price {current['id']} (its push failed: {push['reason']})"
    price_id = book.add_price(store, sku, float(current["price"]), current["currency"], current["was"],
                              current["promo"], [], why, actor, now,
                              push_hook(book, config, store, sku, product.label if product else None, now), why,
                              proposer=actor)
    return book.price(price_id)
