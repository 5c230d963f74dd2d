"""Forecasts kept in the collector's store (table ``forecasts``, migration 8).

One row per store, kind (``footfall`` hourly people in, ``sales`` daily quantity per SKU), level (``store`` or
``camera`` for footfall, ``sku`` for sales) and series: the model chosen, its backtest MAE and seasonal naive's on
the same folds, the points (JSON list of ``timestamp, forecast, lo80, hi80, lo95, hi95``), the warnings that name
the series, and ``computed_at``. A refresh replaces every row of its store, kind and level in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from collector.forecast.pipeline import ForecastResult
from collector.store.database import Database

LEVELS = {"footfall": ("store", "camera"), "sales": ("sku",)}
BANDS = ("lo80", "hi80", "lo95", "hi95")


@dataclass(frozen=True)
class Stored:
    """The stored forecast of one store, kind and level."""

    store: str
    kind: str
    level: str
    freq: str
    horizon: int
    computed_at: float
    series: list[dict[str, Any]]  # series_id, model, backtest_mae, naive_mae, warnings
    points: list[dict[str, Any]]  # series_id, timestamp, forecast, lo80, hi80, lo95, hi95

    def table(self) -> pd.DataFrame:
        """The points as the forecaster's long table (``unique_id, ds, model, forecast, lo80 ...``)."""
        model = {s["series_id"]: s["model"] for s in self.series}
        df = pd.DataFrame(self.points, columns=["series_id", "timestamp", "forecast", *BANDS])
        return df.assign(model=df["series_id"].map(model), ds=pd.to_datetime(df["timestamp"])).rename(
            columns={"series_id": "unique_id"})[["unique_id", "ds", "model", "forecast", *BANDS]]


class ForecastStore:
    """Reads and writes of stored forecasts on ``db`` (the collector's :class:`~collector.store.Store`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, store: str, kind: str, level: str, freq: str, horizon: int, result: ForecastResult,
             computed_at: float) -> int:
        """Replace the store's forecasts of ``kind`` and ``level`` with ``result``; returns the series written."""
        stamps = result.table.assign(timestamp=result.table["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
        rows = []
        for sid, g in stamps.groupby("unique_id", sort=False):
            points = [[t, *(round(float(x), 4) for x in v)] for t, *v in
                      g[["timestamp", "forecast", *BANDS]].itertuples(index=False)]
            mae, naive = result.series_mae.get(str(sid), (None, None))
            notes = [w for w in result.warnings if f"'{sid}'" in w]
            rows.append((store, kind, level, str(sid), freq, horizon, result.chosen[str(sid)], mae, naive,
                         json.dumps(points), json.dumps(notes), computed_at))
        with self.db.write() as cur:
            cur.execute(self.db.sql("DELETE FROM forecasts WHERE store = ? AND kind = ? AND level = ?"),
                        (store, kind, level))
            cur.executemany(self.db.sql(
                "INSERT INTO forecasts (store, kind, level, series, freq, horizon, model, backtest_mae, naive_mae, "
                "points, warnings, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), rows)
        return len(rows)

    def load(self, store: str, kind: str, level: str) -> Stored | None:
        """The stored forecast, or None when none was computed yet."""
        rows = self.db.rows("SELECT * FROM forecasts WHERE store = ? AND kind = ? AND level = ? ORDER BY series",
                            (store, kind, level))
        if not rows:
            return None
        series, points = [], []
        for r in rows:
            series.append({"series_id": r["series"], "model": r["model"], "backtest_mae": r["backtest_mae"],
                           "naive_mae": r["naive_mae"], "warnings": json.loads(r["warnings"])})
            points += [dict(zip(("series_id", "timestamp", "forecast", *BANDS), [r["series"], *p], strict=True))
                       for p in json.loads(r["points"])]
        first = rows[0]
        return Stored(store, kind, level, first["freq"], int(first["horizon"]),
                      min(float(r["computed_at"]) for r in rows), series, points)

    def listing(self, store: str) -> list[dict[str, Any]]:
        """What is stored for ``store``: ``kind, level, series, computed_at`` per kind and level."""
        return [{**r, "series": int(r["series"]), "computed_at": float(r["computed_at"])} for r in self.db.rows(
            "SELECT kind, level, COUNT(*) AS series, MIN(computed_at) AS computed_at FROM forecasts WHERE store = ? "
            "GROUP BY kind, level ORDER BY kind, level", (store,))]

    def computed_at(self, store: str) -> float | None:
        """When the store's oldest stored forecast was computed (None: some kind has none)."""
        rows = self.db.rows("SELECT kind, MIN(computed_at) AS t FROM forecasts WHERE store = ? GROUP BY kind",
                            (store,))
        return min(float(r["t"]) for r in rows) if rows else None
