"""What the rules read from the rest of the collector: demand from the forecaster (:mod:`collector.forecast`) and
the substitutes of out-of-stock SKUs from the recommender (:mod:`collector.recommend`) over the store's open
``shelf_oos`` intervals. Each degrades to a stated reason when its source has nothing to say."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from collector.pricing.rules import Demand
from collector.pricing.settings import DemandConfig

log = logging.getLogger("collector.pricing")


@dataclass
class DemandSignals:
    """Per SKU: a :class:`Demand`, or the reason there is none."""

    found: dict[str, Demand] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    default: str = "demand rule off"

    def reason(self, sku: str) -> str:
        return self.missing.get(sku, self.default)


def demand_signals(store: Any, store_id: str, skus: Sequence[str], cfg: DemandConfig, now: float) -> DemandSignals:
    """Forecast daily sales of the store's SKUs ``horizon_days`` ahead of the last complete day (UTC) and set
    each mean against the mean of the last ``horizon_days`` days sold (days without a sale count as zero)."""
    from collector.forecast.api import forecast_from_store, store_table
    from collector.forecast.data import ForecastInputError

    if not cfg.enabled:
        return DemandSignals()
    until = pd.Timestamp(now, unit="s").floor("D") - pd.Timedelta(days=1)
    try:
        result = forecast_from_store(store, store_id, "sales", cfg.horizon_days, models=cfg.models, until=until)
        table = store_table(store, store_id, "sales", until=until)
    except ForecastInputError as exc:
        return DemandSignals(default=f"no forecast: {exc}")
    recent = table[table["timestamp"] > until - pd.Timedelta(days=cfg.horizon_days)].groupby("series_id")["value"]
    recent_sum = recent.sum()
    means = result.table.groupby("unique_id")["forecast"].mean()
    models = result.chosen
    signals = DemandSignals(default="no forecast: no sales of this SKU in the store")
    for sku in skus:
        if sku in result.skipped:
            signals.missing[sku] = (f"no forecast: {sku} has too little sales history for {cfg.horizon_days} days "
                                    "ahead")
        elif sku in means.index:
            signals.found[sku] = Demand(max(float(means[sku]), 0.0), float(recent_sum.get(sku, 0.0)) /
                                        cfg.horizon_days, cfg.horizon_days, models.get(sku))
    return signals


@dataclass
class SubstituteSignals:
    """Per SKU: the out-of-stock SKU it substitutes for, or why none."""

    found: dict[str, str] = field(default_factory=dict)
    default: str = "no out-of-stock SKU lists it as a substitute"


def substitute_signals(store: Any, store_id: str, recommender: Any, reason: str | None, k: int) -> SubstituteSignals:
    """The top ``k`` substitutes (recommender, down-weighting items this store's reviews rate poorly) of each SKU
    out of stock now (open ``shelf_oos`` intervals); a substitute that is out of stock itself gets nothing.
    ``recommender`` None: ``reason`` says why."""
    from collector.recommend.data import BasketInputError
    from collector.sentiment.rollup import substitute_weights

    empty = sorted({a["sku"] for a in store.shelf_alerts(store_id, open_only=True) if a["sku"]})
    if not empty:
        return SubstituteSignals(default="nothing out of stock in the store")
    if recommender is None:
        return SubstituteSignals(default=f"no substitutes: {reason}")
    weights = substitute_weights(store, store_id)  # poorly reviewed substitutes rank lower (collector.sentiment)
    found: dict[str, str] = {}
    for sku in empty:
        try:
            subs = recommender.substitutes(sku, k, weights=weights)
        except BasketInputError:
            log.info("pricing: out-of-stock %s is unknown to the recommender", sku)
            continue
        for item, _score in subs:
            if item not in empty:
                found.setdefault(item, sku)
    return SubstituteSignals(found, f"not a top-{k} substitute of the out-of-stock {', '.join(empty)}")
