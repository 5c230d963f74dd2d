"""Roll-out routes (admin scope): the roll-outs, every device's state in one, and a rollback by hand.

Mounted under ``/api/v1`` by ``collector.service.ROUTER_MODULES``; roll-outs are created with
``smartstore fleet rollout`` and driven by the collector (:mod:`collector.fleet.rollout`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from collector.auth import Access, scope
from collector.fleet.rollout import abort_rollout
from collector.fleet.rollout_plan import RolloutError
from collector.fleet.rollout_store import RolloutStore
from collector.store import Store

ADMIN = scope(Access.ADMIN)
RolloutId = Annotated[int, PathParam(ge=1, le=2**62, description="roll-out id")]


class RolloutOut(BaseModel):
    id: int
    kind: str = Field(description="model or config")
    name: str
    version: int
    state: str = Field(description="running, rolling_back, done or rolled_back")
    wave: int = Field(description="the current wave (0: the canary)")
    wave_started: float | None = Field(description="when the current wave (or the rollback) started")
    reason: str | None = Field(description="why it rolled back, or how it finished")
    created: float
    updated: float
    finished: float | None
    settings: dict[str, Any]
    devices: dict[str, int] = Field(default_factory=dict, description="devices per state")


class RolloutDeviceOut(BaseModel):
    store: str
    device: str
    wave: int
    state: str = Field(description="pending, sent, accepted, applied, healthy, failed or rolled_back")
    reason: str | None
    command_id: str | None
    rollback_id: str | None
    previous: int | None = Field(description="the version it ran before (from its applied reply)")
    baseline: dict[str, Any] | None = Field(description="its health before its command: fps, detections, ...")
    sent: float | None
    applied: float | None
    updated: float


class RolloutDetail(RolloutOut):
    device_states: list[RolloutDeviceOut]


def _detail(rollouts: RolloutStore, rollout_id: int) -> dict[str, Any]:
    rollout = rollouts.get(rollout_id)
    if rollout is None:
        raise HTTPException(404, f"no roll-out {rollout_id}")
    devices = rollouts.devices(rollout_id)
    counts: dict[str, int] = {}
    for d in devices:
        counts[d["state"]] = counts.get(d["state"], 0) + 1
    return {**rollout, "devices": counts, "device_states": devices}


def collector_router(store: Store) -> APIRouter:
    rollouts = RolloutStore(store)
    api = APIRouter(tags=["fleet"])

    @api.get("/rollouts", response_model=list[RolloutOut], summary="staged roll-outs, newest first",
             openapi_extra=ADMIN)
    def listing(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        return rollouts.listing(limit)

    @api.get("/rollouts/{rollout_id}", response_model=RolloutDetail, summary="one roll-out and every device's state",
             openapi_extra=ADMIN)
    def detail(rollout_id: RolloutId) -> dict[str, Any]:
        return _detail(rollouts, rollout_id)

    @api.post("/rollouts/{rollout_id}/abort", response_model=RolloutDetail, openapi_extra=ADMIN,
              summary="stop a roll-out's waves and roll back every device that got its version")
    def abort(rollout_id: RolloutId) -> dict[str, Any]:
        try:
            abort_rollout(store, rollout_id, "aborted by hand (API)")
        except RolloutError as exc:
            raise HTTPException(409 if rollouts.get(rollout_id) else 404, str(exc)) from None
        return _detail(rollouts, rollout_id)

    return api
