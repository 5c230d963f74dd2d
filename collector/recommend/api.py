"""Basket and substitute endpoints: a FastAPI router over a fitted recommender file (mounted under ``/api/v1``).

``smartstore collector run`` serves them over the file named by the collector config's ``recommender.model``
(default ``recommender.npz`` in the working directory, where ``smartstore recommend fit`` writes by default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query

from collector.config import CollectorConfig, RecommenderConfig
from collector.recommend.data import BasketInputError
from collector.recommend.recommender import Recommender
from collector.store import Store
from errors import SmartstoreError


class RecommenderModelError(SmartstoreError):
    """The configured recommender file is missing or cannot be read (one line naming the field and the file)."""


def make_router(model: Recommender | str | Path,
                reviews: Callable[[str], Mapping[str, float]] | None = None) -> APIRouter:
    """``GET /baskets/recommendations?items=a,b&k=10[&at=ISO]`` and ``GET /substitutes/{sku}?k=10[&store=S]``;
    ``reviews(store)``: per-item multipliers from that store's reviews (with ``store``, poorly reviewed
    substitutes rank lower)."""
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
    def substitutes(sku: str, k: Annotated[int, Query(ge=1, le=100)] = 10,
                    store: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                                                       description="down-weight substitutes poorly reviewed in "
                                                                   "this store")] = None) -> dict[str, Any]:
        weights = reviews(store) if reviews is not None and store else None
        try:
            subs = rec.substitutes(sku, k, weights=weights)
        except BasketInputError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return {"sku": sku, "substitutes": [{"item": i, "score": s} for i, s in subs]}

    return router


def configured_model(config: RecommenderConfig) -> Recommender | None:
    """The model ``recommender.model`` names; None when the field is unset and the default file does not exist
    (nothing fitted yet: nothing to serve). A named file that is missing, or any file that is corrupt, raises
    :class:`RecommenderModelError`."""
    if config.model is None and not config.path.exists():
        return None
    try:
        return Recommender.load(config.path)
    except BasketInputError as exc:
        raise RecommenderModelError(f"recommender.model: {exc}") from None


def collector_router(store: object, config: CollectorConfig) -> APIRouter | None:
    """Mounted by ``smartstore collector run`` over the model of ``config.recommender`` (see
    :func:`configured_model`); without one there is nothing to serve."""
    from collector.sentiment.rollup import substitute_weights

    model = configured_model(config.recommender)
    if model is None:
        return None
    return make_router(model, (lambda store_id: substitute_weights(store, store_id)) if isinstance(store, Store)
                       else None)
