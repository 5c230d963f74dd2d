"""Calendar and public-holiday features (offline: the ``holidays`` package ships its rules)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from collector.forecast.data import ForecastInputError


@lru_cache(maxsize=32)
def _holiday_days(country: str, subdiv: str | None, years: tuple[int, ...]) -> np.ndarray:
    import holidays

    try:
        cal = holidays.country_holidays(country, subdiv=subdiv, years=years)
    except NotImplementedError as exc:
        where = f"{country!r}" + (f" / subdivision {subdiv!r}" if subdiv else "")
        raise ForecastInputError(f"unknown public-holiday calendar {where}") from exc
    return np.array(sorted(cal.keys()), dtype="datetime64[D]")


def holiday_flags(ds: pd.Series | pd.DatetimeIndex, country: str | None, subdiv: str | None = None) -> np.ndarray:
    """1.0 where the date of ``ds`` is a public holiday of ``country`` (ISO code), else 0.0."""
    days = pd.DatetimeIndex(ds).values.astype("datetime64[D]")
    if not country or days.size == 0:
        return np.zeros(days.size)
    years = tuple(range(int(str(days.min())[:4]), int(str(days.max())[:4]) + 1))
    return np.isin(days, _holiday_days(country, subdiv, years)).astype(float)


def calendar_features(ds: pd.Series | pd.DatetimeIndex, freq: str, country: str | None, subdiv: str | None = None,
                      ) -> dict[str, np.ndarray]:
    """Position in the day/week/year, holiday flags and the distance to Christmas (the year-end season)."""
    idx = pd.DatetimeIndex(ds)
    feats: dict[str, np.ndarray] = {}
    if freq == "h":
        feats["hour"] = idx.hour.to_numpy(float)
    if freq in ("h", "D"):
        feats["dow"] = idx.dayofweek.to_numpy(float)
    feats["month"] = idx.month.to_numpy(float)
    day = idx.normalize()
    xmas = pd.to_datetime({"year": idx.year, "month": 12, "day": 25})
    offset = (day - pd.DatetimeIndex(xmas)).days.to_numpy(float)
    offset = np.where(offset < -180, offset + 365, offset)  # early January counts from the last Christmas
    feats["xmas"] = np.where(np.abs(offset) <= 21, offset, 99.0)
    step = {"h": pd.Timedelta(days=1), "D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7)}[freq]
    hol = holiday_flags(idx, country, subdiv)
    if freq == "W":  # a week containing a holiday
        hol = np.maximum.reduce([holiday_flags(idx - k * pd.Timedelta(days=1), country, subdiv) for k in range(7)])
    feats["holiday"] = hol
    feats["holiday_prev"] = holiday_flags(idx - step, country, subdiv) if freq != "W" else hol
    feats["holiday_next"] = holiday_flags(idx + step, country, subdiv) if freq != "W" else hol
    return feats
