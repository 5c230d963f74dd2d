"""Out-of-stock to action: one store's open shelf problems per shelf and slot, with what to do about them.

:func:`shelf_actions` reads the store: the open out-of-stock intervals (``shelf_oos``, rolled up from
``shelf.out_of_stock``/``shelf.restocked``) with how long each has been open and, for each out-of-stock SKU, the
recommender's substitutes with a positive score (down-weighted where the store's reviews are poor, as
``/substitutes/{sku}?store=`` ranks them); the planogram violations (``shelf.planogram_violation`` events), each
open until a later ``shelf.snapshot`` of its camera shows the slot stocked, low or empty again; and the latest
snapshot of every shelf (slot states and fill, the gaps seen now). Violations and snapshots are read from the
last ``window_h`` hours of events only (default 24), bounded on ``stored`` as well so that PostgreSQL reads only
those days' partitions. :func:`collector_router` serves it as ``GET /stores/{store_id}/shelf-actions``
(read scope of the store).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from collector.api import SlotInterval
from collector.config import CollectorConfig
from collector.recommend.data import BasketInputError
from collector.recommend.recommender import Recommender
from collector.store import Store

#: a snapshot state after a violation that ends it (occluded or still wrong: it stays open)
VIOLATION_CLEARED = frozenset({"stocked", "low", "empty"})
Substitutes = Callable[[str], list[tuple[str, float]]]
WINDOW_H = 24.0  # hours of violations and snapshots read by default
CLOCK_SKEW_S = 3600.0  # an edge clock up to this far ahead of the collector's still lands inside the window


class Substitute(BaseModel):
    item: str
    score: float


class OutOfStock(SlotInterval):
    open_s: float = Field(description="how long it has been open, seconds")
    substitutes: list[Substitute] = Field(description="the recommender's substitutes for the SKU, best first "
                                          "(empty without a fitted recommender or for a SKU it does not know)")


class Violation(BaseModel):
    camera: str | None
    device: str
    shelf: str
    row: str
    slot: str
    expected_sku: str | None
    observed_sku: str | None
    confidence: float | None
    start: float
    open_s: float


class SlotState(BaseModel):
    row: str | None
    slot: str
    state: str
    sku: str | None
    expected_sku: str | None
    fill: float | None


class ShelfState(BaseModel):
    camera: str | None
    device: str
    shelf: str
    ts: float = Field(description="time of the latest snapshot")
    compliance: float | None
    slots: list[SlotState]


class ShelfActions(BaseModel):
    store: str
    now: float
    recommender: bool = Field(description="a fitted recommender is serving substitutes")
    out_of_stock: list[OutOfStock]
    violations: list[Violation]
    shelves: list[ShelfState]


def _events(store: Store, store_id: str, kind: str, since: float) -> list[dict[str, Any]]:
    """``device, camera, ts, data`` of the stored events of ``kind`` with ``ts`` after ``since``, oldest first."""
    rows = store.rows("SELECT device, camera, ts, payload FROM events WHERE store = ? AND kind = ? AND ts > ? "
                      "AND stored > ? ORDER BY ts, seq", (store_id, kind, since, since - CLOCK_SKEW_S))
    return [{"device": r["device"], "camera": r["camera"] or None, "ts": float(r["ts"]),
             "data": json.loads(r["payload"])["data"]} for r in rows]


def latest_snapshots(store: Store, store_id: str, since: float) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The latest ``shelf.snapshot`` after ``since`` per (device, camera, shelf)."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in _events(store, store_id, "shelf.snapshot", since):
        latest[(e["device"], e["camera"], e["data"]["shelf"])] = e
    return latest


def open_violations(store: Store, store_id: str, now: float, since: float) -> list[dict[str, Any]]:
    """The latest violation after ``since`` per slot, unless a later snapshot shows the slot stocked, low or
    empty; oldest first."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in _events(store, store_id, "shelf.planogram_violation", since):
        latest[(e["device"], e["camera"], e["data"]["shelf"], e["data"]["slot"])] = e
    if not latest:
        return []
    snapshots = _events(store, store_id, "shelf.snapshot", min(e["ts"] for e in latest.values()))
    out = []
    for (device, camera, shelf, slot), e in latest.items():
        later = [s for s in snapshots if s["ts"] > e["ts"] and (s["device"], s["camera"], s["data"]["shelf"])
                 == (device, camera, shelf)]
        state = next((v["state"] for v in later[-1]["data"]["slots"] if v["slot"] == slot), None) if later else None
        if state in VIOLATION_CLEARED:
            continue
        d = e["data"]
        out.append({"camera": camera, "device": device, "shelf": shelf, "row": d["row"], "slot": slot,
                    "expected_sku": d.get("expected_sku"), "observed_sku": d.get("observed_sku"),
                    "confidence": d.get("confidence"), "start": e["ts"], "open_s": max(0.0, now - e["ts"])})
    return sorted(out, key=lambda v: v["start"])


def shelf_actions(store: Store, store_id: str, substitutes: Substitutes | None = None,
                  now: float | None = None, window_h: float = WINDOW_H) -> dict[str, Any]:
    """One store's open out-of-stock slots (with substitutes), and the open planogram violations and latest shelf
    states of the last ``window_h`` hours."""
    now = time.time() if now is None else now
    since = now - window_h * 3600.0
    found: dict[str, list[dict[str, Any]]] = {}
    oos = []
    for a in sorted(store.shelf_alerts(store_id), key=lambda a: a["start"]):
        sku = a["sku"]
        if sku and sku not in found:
            found[sku] = [{"item": i, "score": s} for i, s in substitutes(sku) if s > 0] if substitutes else []
        oos.append({k: a[k] for k in ("id", "camera", "device", "shelf", "slot", "sku", "start")}
                   | {"open_s": max(0.0, now - a["start"]), "substitutes": found.get(sku or "", [])})
    shelves = [{"camera": s["camera"], "device": s["device"], "shelf": s["data"]["shelf"], "ts": s["ts"],
                "compliance": s["data"].get("compliance"),
                "slots": [{"row": v.get("row"), "slot": v["slot"], "state": v["state"], "sku": v.get("sku"),
                           "expected_sku": v.get("expected_sku"), "fill": v.get("fill")} for v in s["data"]["slots"]]}
               for _, s in sorted(latest_snapshots(store, store_id, since).items(), key=lambda kv: str(kv[0]))]
    return {"store": store_id, "now": now, "recommender": substitutes is not None, "out_of_stock": oos,
            "violations": open_violations(store, store_id, now, since), "shelves": shelves}


def recommender_substitutes(model: Recommender, weights: Callable[[], Mapping[str, float]],
                            k: int) -> Substitutes:
    """Substitutes as ``/substitutes/{sku}?store=`` ranks them: none for a SKU the model does not know."""
    def find(sku: str) -> list[tuple[str, float]]:
        try:
            return model.substitutes(sku, k, weights=weights() or None)
        except BasketInputError:
            return []
    return find


def make_router(store: Store, model: Recommender | None) -> APIRouter:
    """``GET /stores/{store_id}/shelf-actions?k=3&window_h=24``: :func:`shelf_actions` with ``k`` substitutes per
    SKU."""
    from collector.sentiment.rollup import substitute_weights

    router = APIRouter(tags=["shelf"])

    @router.get("/stores/{store_id}/shelf-actions", response_model=ShelfActions,
                summary="open out-of-stock slots with substitutes, planogram violations and shelf states")
    def actions(store_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")],
                k: Annotated[int, Query(ge=0, le=20, description="substitutes per out-of-stock SKU")] = 3,
                window_h: Annotated[float, Query(gt=0, le=24 * 31, description="hours of planogram violations "
                                                 "and shelf snapshots to read")] = WINDOW_H,
                ) -> dict[str, Any]:
        subs = (recommender_substitutes(model, lambda: substitute_weights(store, store_id), k)
                if model is not None and k > 0 else None)
        return shelf_actions(store, store_id, subs, window_h=window_h)

    return router


def collector_router(store: Store, config: CollectorConfig) -> APIRouter:
    """Mounted by ``smartstore collector run``; substitutes from ``recommender.model`` when one is fitted."""
    from collector.recommend.api import RecommenderModelError, configured_model

    try:
        model = configured_model(config.recommender)
    except RecommenderModelError:  # the recommender's own router logs it; the shelf actions still serve
        model = None
    return make_router(store, model)
