"""Basket and substitute endpoints: a FastAPI router over a fitted recommender file (mounted under ``/api/v1``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query

from collector.recommend.data import BasketInputError
from collector.recommend.recommender import Recommender


def make_router(model: Recommender | str | Path) -> APIRouter:
    """``GET /baskets/recommendations?items=a,b&k=10[&at=ISO]`` and ``GET /substitutes/{sku}?k=10``."""
    rec = model if isinstance(model, Recommender) else Recommender.load(model)
    router = APIRouter(tags=["recommend"])

    @router.get("/baskets/recommendations", summary="frequently bought together with a basket")
    def basket(items: Annotated[str, Query(min_length=1, max_length=4000, description="comma-separated items")],
               k: Annotated[int, Query(ge=1, le=100)] = 10,
               at: Annotated[str | None, Query(description="basket time (ISO), for hour/weekday context")] = None,
               ) -> dict[str, Any]:
        names = [i.strip() for i in items.split(",") if i.strip()]
        try:
            when = pd.Timestamp(at) if at else None
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=f"at={at!r}: not a timestamp") from exc
        return rec.basket(names, k, when)

    @router.get("/substitutes/{sku}", summary="substitutes for an out-of-stock SKU")
    def substitutes(sku: str, k: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
        try:
            subs = rec.substitutes(sku, k)
        except BasketInputError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return {"sku": sku, "substitutes": [{"item": i, "score": s} for i, s in subs]}

    return router


def collector_router(store: object) -> APIRouter | None:
    """Mounted by ``smartstore collector run`` when ``SMARTSTORE_RECOMMENDER_MODEL`` names a fitted model file
    (``smartstore recommend fit ... --out MODEL``); without one there is nothing to serve."""
    path = os.environ.get("SMARTSTORE_RECOMMENDER_MODEL")
    return make_router(path) if path else None
