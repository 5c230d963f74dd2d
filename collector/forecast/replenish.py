"""Replenishment suggestion per SKU: forecast demand over the lead time plus safety stock, against stock on hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collector.forecast.data import ForecastInputError


def read_stock(path: str) -> pd.DataFrame:
    """CSV ``series_id,stock[,lead_time]``."""
    try:
        df = pd.read_csv(path, dtype={"series_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ForecastInputError(f"{path}: cannot read stock table ({exc})") from exc
    missing = [c for c in ("series_id", "stock") if c not in df.columns]
    if missing:
        raise ForecastInputError(f"{path}: missing column(s) {', '.join(missing)} (need series_id,stock[,lead_time])")
    stock = pd.to_numeric(df["stock"], errors="coerce")
    if stock.isna().any():
        row = int(np.flatnonzero(stock.isna().to_numpy())[0])
        raise ForecastInputError(f"{path}: non-numeric stock {df['stock'].iloc[row]!r} (row {row + 2})")
    return df.assign(stock=stock)


def replenishment(forecasts: pd.DataFrame, stock: pd.DataFrame, lead_time: int, level: int = 95) -> pd.DataFrame:
    """Order suggestion per series with stock: ``max(0, demand + safety - stock)``.

    demand = sum of point forecasts over the first ``lead_time`` steps (or the row's own ``lead_time``);
    safety = the interval half-widths at ``level`` combined as independent errors, sqrt(sum(w_i^2)).
    """
    hi = f"hi{level}"
    rows = []
    known = set(forecasts["unique_id"])
    for rec in stock.itertuples(index=False):
        sid = str(rec.series_id)
        if sid not in known:
            raise ForecastInputError(f"stock table: series {sid!r} is not in the forecast input")
        lt = int(getattr(rec, "lead_time", lead_time) if pd.notna(getattr(rec, "lead_time", lead_time)) else lead_time)
        f = forecasts[forecasts["unique_id"] == sid].iloc[:lt]
        if len(f) < lt:
            raise ForecastInputError(f"lead time {lt} of {sid!r} is longer than the forecast horizon {len(f)}")
        demand = float(f["forecast"].sum())
        safety = float(np.sqrt(np.sum((f[hi] - f["forecast"]).to_numpy() ** 2)))
        order = max(0.0, demand + safety - float(rec.stock))
        rows.append({"series_id": sid, "stock": float(rec.stock), "lead_time": lt, "demand": round(demand, 2),
                     "safety_stock": round(safety, 2), "suggested_order": float(np.ceil(order)),
                     "stockout_risk": bool(float(rec.stock) < demand)})
    return pd.DataFrame(rows)
