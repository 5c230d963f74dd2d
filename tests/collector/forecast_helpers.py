"""A store with three weeks of hourly footfall on two cameras (a daily profile, quieter weekends) and eight weeks
of daily sales of two SKUs (weekends double), as real footfall.crossing events and imported sale lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collector.store import Store
from collector.validation import Accepted

#: the first hour after the data: forecasts computed "now" = END + 30 min start here
END = pd.Timestamp("2025-03-24 00:00", tz="UTC")
NOW = END.timestamp() + 1800
SKUS = {"milk": 6.0, "bread": 3.0}  # weekday units a day


def seed(store: Store, shop: str = "shop1") -> dict[str, np.ndarray]:
    """Write the events and sales; returns people in per hour for each camera (the actuals)."""
    rng = np.random.default_rng(0)
    hours = pd.date_range(END - pd.Timedelta(days=21), END, freq="h", inclusive="left")
    profile = np.clip(np.sin((hours.hour.to_numpy() - 7) / 13 * np.pi), 0, None)
    events, seq, people = [], 0, {}
    for camera, scale in (("cam-a", 10), ("cam-b", 4)):
        counts = rng.poisson(scale * profile * np.where(hours.dayofweek >= 5, 0.5, 1.0))
        people[camera] = counts.astype(float)
        for h, n in zip(hours, counts, strict=True):
            for k in range(int(n)):
                seq += 1
                events.append(Accepted(f"{camera}-{seq}", "footfall.crossing", shop, "box-1", camera, seq,
                                       h.timestamp() + 50 * k, {"line": "door", "direction": "in"}, "{}"))
    store.write_batch(events)
    days = pd.date_range(END - pd.Timedelta(days=56), END, freq="D", inclusive="left")
    sales = []
    for sku, base in SKUS.items():
        for d in days:
            qty = base * (2 if d.dayofweek >= 5 else 1)
            sales.append((f"{sku}-{d.date()}", shop, sku, qty, 1.0, None, d.timestamp() + 36000, "test"))
    store.import_sales(sales)
    return people
