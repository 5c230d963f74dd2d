"""Pricing endpoints (a router the collector mounts under ``/api/v1``; ``docs/api.md``, Prices).

Reading needs read access to the store in the path (``read:<store>``, ``read:all`` or ``admin``); evaluating,
approving and rejecting need ``admin`` (:mod:`collector.auth`: write routes are admin-only).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from collector.api import Caller
from collector.auth import Access, scope
from collector.config import CollectorConfig
from collector.pricing.approval import approve, reject
from collector.pricing.book import PriceBook, PricingError
from collector.pricing.evaluate import evaluate_store
from collector.pricing.pushes import PushQueue

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
StoreId = Annotated[str, PathParam(pattern=NAME, description="store id")]
Sku = Annotated[str, PathParam(pattern=r"^[^\x00/]{1,64}$", description="SKU")]
PriceId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="price id")]
STORE, ADMIN = scope(Access.STORE), scope(Access.ADMIN)


class Decision(BaseModel):
    reason: str | None = Field(None, max_length=200, description="why (kept in the audit log)")


def _push_state(queue: PushQueue, store_id: str) -> dict[str, dict[str, Any]]:
    return {p["price_id"]: p for p in queue.pushes(store_id)}


def make_router(store: Any, config: CollectorConfig) -> APIRouter:
    """``GET /stores/{s}/prices``, ``.../prices/pending``, ``.../products/{sku}/prices``; ``POST
    .../prices/evaluate``, ``.../prices/{id}/approve``, ``.../prices/{id}/reject``."""
    book, queue = PriceBook(store), PushQueue(PriceBook(store))
    router = APIRouter(tags=["pricing"])

    def in_store(store_id: str, price_id: str) -> dict[str, Any]:
        try:
            row = book.price(price_id)
        except PricingError as exc:
            raise HTTPException(404, str(exc)) from None
        if row["store"] != store_id:
            raise HTTPException(404, f"no price {price_id} in store {store_id}")
        return row

    @router.get("/stores/{store_id}/prices", summary="the price list with each SKU's current and pending price",
                openapi_extra=STORE)
    def prices(store_id: StoreId) -> list[dict[str, Any]]:
        current, pending = book.current(store_id), {r["sku"]: r for r in book.pending(store_id)}
        pushes = _push_state(queue, store_id)
        out = []
        for p in book.products(store_id):
            now = current.get(p.sku)
            push = pushes.get(now["id"]) if now else None
            out.append({"sku": p.sku, "name": p.name, "currency": p.currency, "base": p.base, "floor": p.floor,
                        "ceiling": p.ceiling, "expiry": p.expiry, "label": p.label,
                        "current": None if now is None else {**now, "push": push and push["state"]},
                        "pending": pending.get(p.sku)})
        return out

    @router.get("/stores/{store_id}/prices/pending", summary="prices waiting for approval", openapi_extra=STORE)
    def pending(store_id: StoreId) -> list[dict[str, Any]]:
        return book.pending(store_id)

    @router.get("/stores/{store_id}/products/{sku}/prices", summary="a product's price history with audit reasons",
                openapi_extra=STORE)
    def history(store_id: StoreId, sku: Sku) -> dict[str, Any]:
        product = book.product(store_id, sku)
        if product is None:
            raise HTTPException(404, f"no SKU {sku!r} in the price list of store {store_id}")
        audit: dict[str, list[dict[str, Any]]] = {}
        for row in book.audit_log(store_id, sku):
            audit.setdefault(row["price_id"], []).append(row)
        pushes = {p["price_id"]: p for p in queue.pushes(store_id, sku)}
        current = book.current(store_id).get(sku)
        return {"store": store_id, "sku": sku, "name": product.name, "base": product.base, "floor": product.floor,
                "ceiling": product.ceiling, "currency": product.currency, "expiry": product.expiry,
                "current": current["id"] if current else None,
                "prices": [{**r, "audit": audit.get(r["id"], []), "push": pushes.get(r["id"])}
                           for r in book.prices(store_id, sku)]}

    @router.post("/stores/{store_id}/prices/evaluate", summary="run the price rules over the store's price list",
                 openapi_extra=ADMIN)
    def evaluate(store_id: StoreId) -> list[dict[str, Any]]:
        return evaluate_store(store, store_id, config).summary()

    @router.post("/stores/{store_id}/prices/{price_id}/approve", summary="approve a pending price",
                 openapi_extra=ADMIN)
    def approve_price(store_id: StoreId, price_id: PriceId, principal: Caller,
                      decision: Decision | None = None) -> dict[str, Any]:
        in_store(store_id, price_id)
        try:
            return approve(book, config.pricing, price_id, principal.name, (decision and decision.reason) or
                           "approved")
        except PricingError as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post("/stores/{store_id}/prices/{price_id}/reject", summary="reject a pending price",
                 openapi_extra=ADMIN)
    def reject_price(store_id: StoreId, price_id: PriceId, principal: Caller,
                     decision: Decision | None = None) -> dict[str, Any]:
        in_store(store_id, price_id)
        try:
            return reject(book, price_id, principal.name, (decision and decision.reason) or "rejected")
        except PricingError as exc:
            raise HTTPException(409, str(exc)) from None

    return router


def collector_router(store: Any, config: CollectorConfig) -> APIRouter:
    """Mounted by ``smartstore collector run``."""
    return make_router(store, config)
