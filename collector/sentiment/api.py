"""Sentiment endpoints (a router the collector mounts under ``/api/v1``; ``docs/api.md``, Sentiment): per product
of a store, the share of positive reviews with its 95% interval, the aspects mentioned and the latest reviews.
Both need read access to the store in the path (``read:<store>``, ``read:all`` or ``admin``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from collector.auth import Access, scope
from collector.sentiment import rollup
from collector.store import Store

StoreId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="store id")]
Sku = Annotated[str, PathParam(pattern=r"^[^\x00/]{1,64}$", description="SKU")]
STORE = scope(Access.STORE)


def collector_router(store: Store) -> APIRouter:
    """``GET /stores/{store_id}/sentiment`` and ``GET /stores/{store_id}/products/{sku}/sentiment``."""
    router = APIRouter(tags=["sentiment"])

    @router.get("/stores/{store_id}/sentiment", summary="per-product review sentiment and aspects",
                openapi_extra=STORE)
    def products(store_id: StoreId) -> list[dict[str, Any]]:
        return rollup.products(store, store_id)

    @router.get("/stores/{store_id}/products/{sku}/sentiment", summary="a product's sentiment and latest reviews",
                openapi_extra=STORE)
    def product(store_id: StoreId, sku: Sku,
                latest: Annotated[int, Query(ge=0, le=100, description="latest reviews to include")] = 10,
                ) -> dict[str, Any]:
        return rollup.product(store, store_id, sku, latest)

    return router
