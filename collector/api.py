"""The collector's HTTP API (FastAPI, OpenAPI at ``/openapi.json``) and the dashboard it serves.

Every data endpoint lives under ``/api/v1`` and needs ``Authorization: Bearer <token>``; without it: 401. A token
whose scopes (:mod:`collector.auth`) do not cover the route or its store: 403; routes that list stores answer
only the caller's. The configured ``api.token`` is an admin token; scoped tokens live hashed in the store.
Open without a token: the static dashboard (``/dashboard/``, it asks for the token), ``/metrics`` (Prometheus)
and ``/healthz``. The interactive docs (``/docs``, Swagger UI) load their JavaScript from a CDN, so they are off
unless ``api.docs: true``; ``/openapi.json`` is always served (offline tools read it). Other modules add
endpoints with ``create_app(..., routers=[...])``: each router is mounted under ``/api/v1`` behind the same
token and scope check (a route declares its scope with ``openapi_extra=collector.auth.scope(...)``, or gets the
default of :func:`collector.auth.route_access`; the forecaster and recommender do this). Times are epoch seconds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from collector.auth import Access, Principal, route_access, scope, token_hash
from collector.metrics import Metrics
from collector.store import Store

WEB_DIR = Path(__file__).resolve().parent / "web"
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # store/device/camera names, as in the event schema
LABEL = r"^[^\x00]{1,64}$"  # free-text labels (SKU): no NUL, at most 64 characters

StoreId = Annotated[str, PathParam(pattern=NAME, description="store id")]
Start = Annotated[datetime | None, Query(description="from this time (inclusive), ISO 8601 or epoch seconds")]
End = Annotated[datetime | None, Query(description="until this time (exclusive)")]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]
Bucket = Annotated[Literal["hour", "day"], Query(description="bucket size (UTC)")]
OWN, ADMIN_ONLY = scope(Access.OWN), scope(Access.ADMIN)


def _caller(request: Request) -> Principal:
    """The caller :func:`authenticator` let in (it runs first, as the router's dependency)."""
    principal: Principal = request.state.principal
    return principal


Caller = Annotated[Principal, Depends(_caller)]
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "the token's scopes do not cover this route or store"}}


class StoreOut(BaseModel):
    store: str
    devices: int
    events: int
    last_ts: float | None


class DeviceOut(BaseModel):
    store: str
    device: str
    state: Literal["online", "offline", "unknown"]
    status_ts: float | None
    last_event_ts: float | None
    events: int
    seq_gaps: int
    seq_max: int | None


class FootfallPoint(BaseModel):
    store: str
    camera: str | None = Field(description="set with per_camera=true")
    t: float = Field(description="bucket start, epoch seconds (UTC)")
    in_: int = Field(alias="in")
    out: int


class ZoneCount(BaseModel):
    camera: str | None
    zone: str
    count: int
    ts: float


class Occupancy(BaseModel):
    store: str
    total: int
    zones: list[ZoneCount]


class ZoneStats(BaseModel):
    zone: str
    t: float
    occupancy_mean: float | None
    occupancy_peak: int | None
    visits: int
    dwell_mean_s: float | None
    dwell_max_s: float | None


class SlotInterval(BaseModel):
    """One out-of-stock interval of a shelf slot (a ``shelf_oos`` row)."""

    id: int
    camera: str | None
    device: str
    shelf: str
    slot: str
    sku: str | None
    start: float


class Alert(SlotInterval):
    store: str
    end: float | None


class Sale(BaseModel):
    id: str
    store: str
    sku: str
    qty: float
    price: float | None
    receipt: str | None
    ts: float
    source: str


class DeadLetter(BaseModel):
    id: int
    received: float
    topic: str
    reason: str
    detail: str
    payload: str = Field(description="the stored payload (itself a capped prefix), cut to payload_chars")
    payload_cut: bool = Field(False, description="payload was cut to payload_chars here")


class ShadowOut(BaseModel):
    device: str
    camera: str | None
    ts: float = Field(description="end of the interval it covers, epoch seconds")
    data: dict[str, Any] = Field(description="the model.shadow data: candidate and live model, box agreement "
                                 "(live_found, candidate_found), count difference, crossings (docs/events.md)")


class TokenOut(BaseModel):
    id: int
    name: str
    scopes: list[str]
    created: float
    revoked: float | None


class Summary(BaseModel):
    """Everything the dashboard shows for one store, in one request."""

    store: str | None
    stores: list[StoreOut]
    devices: list[DeviceOut]
    footfall: list[FootfallPoint]
    occupancy: Occupancy | None
    alerts: list[Alert]
    ingest_rate: float
    now: float


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dead_letter_row(row: dict[str, Any], payload_chars: int) -> dict[str, Any]:
    text = row["payload"].decode("utf-8", "replace")
    return {**row, "payload": text[:payload_chars], "payload_cut": len(text) > payload_chars}


def _data_routes(api: APIRouter, store: Store) -> None:
    """The ``/api/v1`` endpoints that answer one store query each."""

    @api.get("/stores", response_model=list[StoreOut], summary="stores seen in events or sales", openapi_extra=OWN)
    def stores(principal: Caller) -> list[dict[str, Any]]:
        return principal.visible(store.stores())

    @api.get("/devices", response_model=list[DeviceOut], summary="devices, online status and sequence gaps",
             openapi_extra=OWN)
    def devices(principal: Caller,
                store_id: Annotated[str | None, Query(alias="store", pattern=NAME)] = None) -> list[dict[str, Any]]:
        return store.devices(store_id) if store_id else principal.visible(store.devices(None))

    @api.get("/stores/{store_id}/footfall", summary="footfall in/out per hour or day",
             response_model=list[FootfallPoint])
    def footfall(store_id: StoreId, start: Start = None, end: End = None, bucket: Bucket = "hour",
                 camera: Annotated[str | None, Query(pattern=NAME)] = None,
                 per_camera: bool = False) -> list[dict[str, Any]]:
        return store.footfall_series(store_id, _epoch(start), _epoch(end), bucket, camera, per_camera)

    @api.get("/stores/{store_id}/occupancy", response_model=Occupancy, summary="live occupancy per zone")
    def occupancy(store_id: StoreId) -> dict[str, Any]:
        zones = store.occupancy_live(store_id)
        return {"store": store_id, "total": sum(z["count"] for z in zones), "zones": zones}

    @api.get("/stores/{store_id}/zones", response_model=list[ZoneStats], summary="occupancy and dwell statistics")
    def zones(store_id: StoreId, start: Start = None, end: End = None, bucket: Bucket = "hour") -> list[dict[str, Any]]:
        return store.zone_stats(store_id, _epoch(start), _epoch(end), bucket)

    @api.get("/stores/{store_id}/alerts", response_model=list[Alert],
             summary="shelf out-of-stock alerts, newest first; next page: before=<the last id>")
    def alerts(store_id: StoreId, state: Literal["open", "all"] = "open",
               limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
               before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="alerts after this one")] = None,
               ) -> list[dict[str, Any]]:
        return store.shelf_alerts(store_id, open_only=state == "open", limit=limit, before=before)

    @api.get("/stores/{store_id}/sales", response_model=list[Sale], summary="point-of-sale lines")
    def sales(store_id: StoreId, start: Start = None, end: End = None,
              sku: Annotated[str | None, Query(pattern=LABEL)] = None) -> list[dict[str, Any]]:
        return store.sales(store_id, _epoch(start), _epoch(end), sku)

    @api.get("/stores/{store_id}/shadow", response_model=list[ShadowOut],
             summary="the latest shadow-mode agreement (candidate vs live model) per device and camera")
    def shadow(store_id: StoreId) -> list[dict[str, Any]]:
        return store.shadow_latest(store_id)

    @api.get("/dead-letters", response_model=list[DeadLetter],
             summary="rejected messages, newest first; next page: before=<the last id>")
    def dead_letters(limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     reason: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
                     before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="ids below this one")] = None,
                     payload_chars: Annotated[int, Query(ge=0, le=4096)] = 1024) -> list[dict[str, Any]]:
        return [_dead_letter_row(r, payload_chars) for r in store.dead_letters(limit, reason, before)]


def _summary_route(api: APIRouter, store: Store, metrics: Metrics) -> None:
    """``/api/v1/summary``: everything the dashboard shows for one store, in one request."""

    @api.get("/summary", response_model=Summary, summary="one store's dashboard data", openapi_extra=OWN)
    def summary(principal: Caller, store_id: Annotated[str | None, Query(alias="store", pattern=NAME)] = None,
                hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24) -> dict[str, Any]:
        all_stores = principal.visible(store.stores())
        chosen = store_id or (all_stores[0]["store"] if all_stores else None)
        now = time.time()
        if chosen is None:
            return {"store": None, "stores": [], "devices": [], "footfall": [], "occupancy": None, "alerts": [],
                    "ingest_rate": metrics.ingest_rate(), "now": now}
        zones_now = store.occupancy_live(chosen)
        return {
            "store": chosen, "stores": all_stores, "devices": store.devices(chosen),
            "footfall": store.footfall_series(chosen, now - hours * 3600, None, "hour"),
            "occupancy": {"store": chosen, "total": sum(z["count"] for z in zones_now), "zones": zones_now},
            "alerts": store.shelf_alerts(chosen), "ingest_rate": metrics.ingest_rate(), "now": now,
        }


def _token_routes(api: APIRouter, store: Store) -> None:
    """Token management (admin): the list; tokens are made and revoked with ``smartstore fleet token``."""

    @api.get("/tokens", response_model=list[TokenOut], summary="API tokens (no secrets), revoked ones too",
             openapi_extra=ADMIN_ONLY)
    def tokens() -> list[dict[str, Any]]:
        return store.tokens()


def authenticator(store: Store, token: str) -> Callable[..., Principal]:
    """The dependency every ``/api/v1`` route runs: the caller of a valid token (401 otherwise), allowed by the
    route's access for the store it names (403 otherwise). ``token``: the configured admin token."""
    admin = Principal("api.token", ("admin",))

    def authenticate(request: Request, credentials: Credentials) -> Principal:
        given = credentials.credentials if credentials is not None else ""
        principal = admin if given and secrets.compare_digest(given.encode(), token.encode()) else None
        if principal is None and given:
            row = store.token_by_hash(token_hash(given))
            principal = Principal(row["name"], row["scopes"]) if row is not None else None
        if principal is None:
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        named = request.path_params.get("store_id") or request.query_params.get("store")
        if not principal.allows(route_access(request.scope.get("route")), named):
            raise HTTPException(403, "this token's scopes do not cover this route"
                                + (f" for store {named!r}" if named else ""))
        request.state.principal = principal
        return principal

    return authenticate


def create_app(store: Store, token: str, metrics: Metrics | None = None,
               routers: Sequence[APIRouter] = (), docs: bool = False, bundles_dir: Path | None = None) -> FastAPI:
    """The API app over ``store``; every ``/api/v1`` endpoint needs ``token`` (an admin token) or a scoped token
    from the store's ``api_tokens`` whose scopes cover the route (:mod:`collector.auth`).

    ``docs``: serve Swagger UI at ``/docs`` (it fetches its assets from a CDN: off by default, for offline sites).
    ``bundles_dir``: serve its files at ``/bundles/`` without a token (edges hold no API token; every file is named,
    sized and hashed in a signed manifest the edge verifies before it fetches), with HTTP ``Range`` for resuming."""
    if not token:
        raise ValueError("the API needs a token")
    metrics = metrics or Metrics()
    authenticate = authenticator(store, token)

    app = FastAPI(title="smartstore collector", version="1", docs_url="/docs" if docs else None, redoc_url=None,
                  description="Stores, devices, footfall, occupancy, shelf alerts and sales from smartstore edges.")
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticate)], responses=AUTH_RESPONSES)
    _data_routes(api, store)
    _summary_route(api, store, metrics)
    _token_routes(api, store)
    app.include_router(api)
    for router in routers:
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(authenticate)], responses=AUTH_RESPONSES)

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def prometheus() -> str:
        return metrics.render(store.counts())

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True, "mqtt_connected": metrics.connected}

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    app.mount("/dashboard", StaticFiles(directory=WEB_DIR, html=True), name="dashboard")
    if bundles_dir is not None:
        app.mount("/bundles", StaticFiles(directory=bundles_dir), name="bundles")
    return app
