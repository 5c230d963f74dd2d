"""Forecast endpoints (a FastAPI router the collector mounts under ``/api/v1``) and the store adapter.

``forecast_from_store(store, store_id, kind)`` turns the collector store's footfall roll-up (``kind="footfall"``,
hourly, value = people in) or sale lines (``kind="sales"``, daily quantity per SKU) into a long table and forecasts
it. Empty buckets are zero (the store omits them). The collector's schedule (:mod:`collector.forecast.schedule`)
stores those forecasts; the store routes serve the stored ones with their age and never fit on a request.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import pandas as pd
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from collector.forecast.data import ForecastInputError
from collector.forecast.pipeline import ForecastResult
from collector.forecast.plan import minimum
from collector.forecast.replenish import replenishment
from collector.forecast.service import forecast_table, options
from collector.forecast.settings import ScheduleConfig
from collector.forecast.stored import LEVELS, ForecastStore, Stored

if TYPE_CHECKING:
    from collector.config import CollectorConfig


class StoreReader(Protocol):
    """What the forecaster reads from ``collector.store`` (both the SQLite and the PostgreSQL store have it)."""

    def footfall_series(self, store: str | None = None, start: float | None = None, end: float | None = None,
                        bucket: str = "hour", camera: str | None = None, per_camera: bool = False,
                        ) -> list[dict[str, Any]]: ...

    def sales(self, store: str | None = None, start: float | None = None, end: float | None = None,
              sku: str | None = None) -> list[dict[str, Any]]: ...


def store_table(store: StoreReader, store_id: str, kind: str, per_camera: bool = False,
                until: pd.Timestamp | None = None) -> pd.DataFrame:
    """The store's footfall (hourly, per store or camera) or sales (daily quantity per SKU) as a long table.

    ``until`` (UTC): the last complete bucket; buckets after the last record up to it count as zero."""
    if kind == "footfall":
        rows = pd.DataFrame(store.footfall_series(store_id, bucket="hour", per_camera=per_camera))
        if per_camera and not rows.empty:  # counts without a camera ('') are in the store's total only
            rows = rows[rows["camera"].fillna("") != ""]
        if rows.empty:
            raise ForecastInputError(f"store {store_id!r} has no footfall{' per camera' if per_camera else ''} yet")
        sid = rows["camera"] if per_camera else rows["store"]
        return _on_grid(sid, pd.to_datetime(rows["t"], unit="s"), rows["in"], "h", until)
    if kind == "sales":
        rows = pd.DataFrame(store.sales(store_id))
        if rows.empty:
            raise ForecastInputError(f"store {store_id!r} has no sales yet")
        return _on_grid(rows["sku"], pd.to_datetime(rows["ts"], unit="s").dt.floor("D"), rows["qty"], "D", until)
    raise ForecastInputError(f"unknown forecast kind {kind!r}: use footfall or sales")


def _on_grid(sid: pd.Series, when: pd.Series, value: pd.Series, freq: str, until: pd.Timestamp | None,
             ) -> pd.DataFrame:
    """Sum per series and step; every series runs from its first record to the store's last step, and steps
    without a record are 0 (the store omits empty buckets; no sale line means nothing sold)."""
    frame = pd.DataFrame({"series_id": sid.to_numpy(), "timestamp": when.to_numpy(), "value": value.to_numpy()})
    wide = frame.groupby(["series_id", "timestamp"])["value"].sum().unstack(fill_value=0.0)
    last = frame["timestamp"].max() if until is None else max(frame["timestamp"].max(), until.floor(freq))
    wide = wide.reindex(columns=pd.date_range(frame["timestamp"].min(), last, freq=freq), fill_value=0.0)
    first = frame.groupby("series_id")["timestamp"].min()
    long = wide.stack().rename("value").reset_index()
    long.columns = ["series_id", "timestamp", "value"]
    return long[long["timestamp"] >= long["series_id"].map(first)].reset_index(drop=True)


def forecast_from_store(store: StoreReader, store_id: str, kind: Literal["footfall", "sales"], horizon: int,
                        holidays: str | None = None, models: str | None = None,
                        until: pd.Timestamp | None = None, per_camera: bool = False) -> ForecastResult:
    """Forecast a store's footfall (hourly; ``per_camera``: one series per camera) or SKU sales (daily)
    ``horizon`` steps ahead of its last bucket (or of ``until``, the last complete bucket, when given)."""
    freq = "h" if kind == "footfall" else "D"
    opts = options(freq, None, models, holidays)
    table = store_table(store, store_id, kind, per_camera, until=until)
    need = minimum(horizon, opts.seasons)
    sizes = table.groupby("series_id").size()
    skipped = sorted(sizes.index[sizes < need])
    if len(skipped) == len(sizes):
        raise ForecastInputError(f"store {store_id!r}: no {kind} series has the {need} steps of history needed")
    result = forecast_table(table[~table["series_id"].isin(skipped)], freq, horizon, opts, fill="zero")
    result.skipped = skipped
    return result


class SeriesPoint(BaseModel):
    series_id: str
    timestamp: str
    value: float | None


class ForecastRequest(BaseModel):
    freq: Literal["h", "D", "W"]
    horizon: int = Field(ge=1, le=24 * 7 * 8)
    points: list[SeriesPoint] = Field(min_length=1)
    holidays: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(/[A-Za-z0-9-]{1,8})?$")
    models: str | None = None
    fill: Literal["interpolate", "zero"] = "interpolate"


class ReplenishRequest(BaseModel):
    stock: dict[str, float] = Field(min_length=1)  # SKU -> units on hand
    lead_time: int = Field(7, ge=1, le=90)  # days, at most the stored demand forecast's horizon


def _payload(result: ForecastResult) -> dict[str, Any]:
    """Forecast rows keyed ``series_id, timestamp`` (the posted names), the choice, what was skipped or reduced."""
    table = result.table.assign(ds=result.table["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    table = table.rename(columns={"unique_id": "series_id", "ds": "timestamp"})
    return {"chosen": result.chosen, "backtest_mae": result.backtest_mae, "skipped": result.skipped,
            "warnings": result.warnings, "forecasts": table.to_dict(orient="records")}


def _stored_payload(stored: Stored, now: float, every_s: float) -> dict[str, Any]:
    """A stored forecast with how old it is (``age_s``; ``stale`` past the schedule's ``every_s``)."""
    age = max(0.0, now - stored.computed_at)
    return {"store": stored.store, "kind": stored.kind, "level": stored.level, "freq": stored.freq,
            "horizon": stored.horizon, "computed_at": stored.computed_at, "age_s": round(age, 1),
            "stale": age > every_s, "series": stored.series, "forecasts": stored.points}


def _not_computed(store_id: str, kind: str, level: str) -> HTTPException:
    return HTTPException(status_code=404, detail=(
        f"no {kind} forecast ({level} level) computed for store {store_id!r} yet: the collector's schedule "
        f"(forecast.schedule) computes it, or run `smartstore collector forecast-refresh --store {store_id}`"))


def make_router(store: StoreReader | None = None, schedule: ScheduleConfig | None = None) -> APIRouter:
    """``POST /forecasts`` (any posted table); with a store also ``GET /stores/{id}/forecasts`` (what is stored),
    ``GET /stores/{id}/forecast/{footfall|sales}`` (the stored forecast), ``POST /stores/{id}/forecast/refresh``
    (compute now, admin) and ``POST /stores/{id}/replenishment`` (from the stored demand forecast). Bad input
    answers 422 with the one-line reason; a forecast not computed yet 404."""
    router = APIRouter(tags=["forecast"])
    schedule = schedule if schedule is not None else ScheduleConfig.model_validate({})

    def guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ForecastInputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @router.post("/forecasts", summary="forecast a posted long table with 80%/95% intervals")
    def post_forecast(req: ForecastRequest) -> dict[str, Any]:
        df = pd.DataFrame([p.model_dump() for p in req.points])
        opts = options(req.freq, None, req.models, req.holidays)
        return _payload(guarded(forecast_table, df, req.freq, req.horizon, opts, req.fill))

    if store is None:
        return router
    saved = ForecastStore(store)  # type: ignore[arg-type]

    @router.get("/stores/{store_id}/forecasts", summary="the forecasts stored for a store: kind, level, series, age")
    def stored_forecasts(store_id: str) -> list[dict[str, Any]]:
        now = time.time()
        return [{**r, "age_s": round(max(0.0, now - r["computed_at"]), 1), "stale": now - r["computed_at"] >
                 schedule.every_s} for r in saved.listing(store_id)]

    @router.get("/stores/{store_id}/forecast/{kind}",
                summary="the stored forecast of a store's footfall (hourly, per store or camera) or sales (daily, "
                "per SKU), with its age")
    def store_forecast(store_id: str, kind: Literal["footfall", "sales"],
                       level: Annotated[Literal["store", "camera", "sku"] | None, Query()] = None) -> dict[str, Any]:
        name = level or LEVELS[kind][0]
        if name not in LEVELS[kind]:
            raise HTTPException(status_code=422, detail=f"level {name!r}: a {kind} forecast has level(s) "
                                f"{', '.join(LEVELS[kind])}")
        stored = saved.load(store_id, kind, name)
        if stored is None:
            raise _not_computed(store_id, kind, name)
        return _stored_payload(stored, time.time(), schedule.every_s)

    @router.post("/stores/{store_id}/forecast/refresh", summary="compute and store the store's forecasts now")
    def refresh_forecast(store_id: str) -> list[dict[str, Any]]:
        from collector.forecast.schedule import refresh_store

        return [asdict(o) for o in refresh_store(store, store_id, schedule)]

    @router.post("/stores/{store_id}/replenishment", summary="order suggestion per SKU from the stored demand forecast")
    def store_replenishment(store_id: str, req: ReplenishRequest) -> list[dict[str, Any]]:
        stored = saved.load(store_id, "sales", "sku")
        if stored is None:
            raise _not_computed(store_id, "sales", "sku")
        stock = pd.DataFrame({"series_id": list(req.stock), "stock": list(req.stock.values())})
        return guarded(replenishment, stored.table(), stock, req.lead_time).to_dict(orient="records")

    return router


def collector_router(store: StoreReader, config: CollectorConfig) -> APIRouter:
    """Mounted by ``smartstore collector run``: the forecast routes over the collector's own store."""
    return make_router(store, config.forecast.schedule)
