"""Scheduled forecasts: recompute each store's stale forecasts from its stored events and sales, and store them.

``refresh(store, config)`` forecasts every store (or one) now: hourly footfall per store and, with ``per_camera``,
per camera; daily demand per SKU; each written to the ``forecasts`` table (:mod:`collector.forecast.stored`) with
the model chosen and its backtest error. :class:`ForecastScheduler` runs that on a timer inside ``collector run``
for the stores whose forecasts are older than ``every_s``. Replicas share the store: the one that finds a store
stale first recomputes it, the others then find it fresh (two may overlap once; the later write wins).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from collector.forecast.api import StoreReader, forecast_from_store
from collector.forecast.data import ForecastInputError
from collector.forecast.settings import ScheduleConfig
from collector.forecast.stored import ForecastStore

log = logging.getLogger(__name__)
#: (kind, level, per camera, frequency)
JOBS = (("footfall", "store", False, "h"), ("footfall", "camera", True, "h"), ("sales", "sku", False, "D"))


@dataclass(frozen=True)
class Outcome:
    """What one refresh of a store, kind and level did: ``series`` written, or why not (``error``)."""

    store: str
    kind: str
    level: str
    series: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str | None = None

    def line(self) -> str:
        what = f"{self.store} {self.kind}/{self.level}"
        if self.error:
            return f"{what}: not forecast ({self.error})"
        return f"{what}: {self.series} series in {self.seconds:.1f} s" + (
            f", {self.skipped} skipped (too little history)" if self.skipped else "")


def _until(freq: str, config: ScheduleConfig, now: float) -> pd.Timestamp | None:
    """The last complete bucket by the clock (``anchor: clock``), or None (after the last record)."""
    if config.anchor == "data":
        return None
    step = pd.Timedelta(1, unit=freq.lower())
    return pd.Timestamp(now, unit="s").floor(freq) - step


def refresh_store(store: Any, store_id: str, config: ScheduleConfig, now: float | None = None) -> list[Outcome]:
    """Forecast one store now and write what could be forecast; a kind without enough data is an outcome with
    its one-line reason, never an exception."""
    now = time.time() if now is None else now
    saved = ForecastStore(store)
    outcomes = []
    for kind, level, per_camera, freq in JOBS:
        if per_camera and not config.per_camera:
            continue
        horizon = config.footfall_horizon_h if kind == "footfall" else config.demand_horizon_d
        started = time.monotonic()
        try:
            result = forecast_from_store(store, store_id, kind, horizon,  # type: ignore[arg-type]
                                         config.holidays, config.models, _until(freq, config, now), per_camera)
        except ForecastInputError as exc:
            outcomes.append(Outcome(store_id, kind, level, error=str(exc)))
            continue
        n = saved.save(store_id, kind, level, freq, horizon, result, now)
        outcomes.append(Outcome(store_id, kind, level, n, len(result.skipped), time.monotonic() - started))
    return outcomes


def refresh(store: StoreReader, config: ScheduleConfig, store_id: str | None = None,
            now: float | None = None) -> list[Outcome]:
    """Forecast every store the collector knows (or ``store_id``) now."""
    ids = [store_id] if store_id else [s["store"] for s in store.stores()]  # type: ignore[attr-defined]
    return [o for sid in ids for o in refresh_store(store, sid, config, now)]


class ForecastScheduler:
    """:func:`refresh_store` on a timer for each store whose forecasts are older than ``every_s``."""

    def __init__(self, store: Any, config: ScheduleConfig) -> None:
        self.store = store
        self.config = config
        self.saved = ForecastStore(store)
        self.tried: dict[str, float] = {}  # store -> when this replica last tried (stores with nothing to forecast)

    def due(self, now: float) -> list[str]:
        """Stores whose forecasts (or this replica's last try) are older than ``every_s``."""
        out = []
        for s in self.store.stores():
            sid = s["store"]
            last = max(self.saved.computed_at(sid) or 0.0, self.tried.get(sid, 0.0))
            if now - last >= self.config.every_s:
                out.append(sid)
        return out

    def tick(self, now: float | None = None, stop: threading.Event | None = None) -> list[Outcome]:
        """Refresh every due store (until ``stop`` is set); returns what each refresh did."""
        now = time.time() if now is None else now
        outcomes = []
        for sid in self.due(now):
            if stop is not None and stop.is_set():
                break
            self.tried[sid] = now
            for o in refresh_store(self.store, sid, self.config, now):
                (log.debug if o.error else log.info)("forecast: %s", o.line())
                outcomes.append(o)
        return outcomes

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(stop,), name="forecasts", daemon=True)
        thread.start()
        return thread

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.check_s):  # the first check after check_s: a start stays light
            try:
                self.tick(stop=stop)
            except Exception:  # the store may be down for a moment: the next check tries again
                log.exception("forecast: scheduled refresh failed")
                self.store.reset()
