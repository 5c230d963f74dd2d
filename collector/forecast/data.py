"""Load and validate long tables ``series_id,timestamp,value`` into a regular panel.

The panel is a pandas DataFrame with columns ``unique_id`` (str), ``ds`` (datetime64) and ``y`` (float),
sorted by series then time, on a regular grid of the given frequency (gaps filled, see :func:`regularise`).
Every problem raises :class:`ForecastInputError` naming the file, column, series or value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from errors import SmartstoreError

REQUIRED_COLUMNS = ("series_id", "timestamp", "value")
FREQS = {"h": "h", "D": "D", "W": "W-SUN"}
#: The main season (in steps) of each frequency: one week of hours, one week of days, one year of weeks.
SEASONS = {"h": 168, "D": 7, "W": 52}
#: Every season a model may use (hourly data has a daily and a weekly cycle).
ALL_SEASONS = {"h": (24, 168), "D": (7,), "W": (52,)}


class ForecastInputError(SmartstoreError):
    """The input table cannot be forecast as given (one line, names the problem)."""


@dataclass(frozen=True)
class Panel:
    """A regular multi-series table plus what was done to make it regular."""

    df: pd.DataFrame  # unique_id, ds, y
    freq: str  # h | D | W
    filled: int  # number of missing grid points that were filled
    pandas_freq: str  # h | D | W-SUN ... (weekly data keeps its own weekday)

    @property
    def series(self) -> list[str]:
        return list(pd.unique(self.df["unique_id"]))

    def lengths(self) -> pd.Series:
        return self.df.groupby("unique_id", sort=False).size()


def check_freq(freq: str) -> str:
    if freq not in FREQS:
        raise ForecastInputError(f"unknown frequency {freq!r}: use one of {', '.join(FREQS)}")
    return freq


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV long table, checking the required columns exist."""
    path = Path(path)
    if not path.is_file():
        raise ForecastInputError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype={"series_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ForecastInputError(f"{path}: not a readable CSV table ({str(exc).splitlines()[0]})") from exc
    return validate(raw, source=str(path))


def validate(raw: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Check columns and types; return ``unique_id, ds, y`` sorted (not yet regular)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ForecastInputError(
            f"{source}: missing column(s) {', '.join(missing)} (need {','.join(REQUIRED_COLUMNS)}; "
            f"found {','.join(map(str, raw.columns)) or 'none'})"
        )
    if raw.empty:
        raise ForecastInputError(f"{source}: the table has no rows")
    ds = pd.to_datetime(raw["timestamp"], errors="coerce", format="mixed")
    bad = ds.isna() & raw["timestamp"].notna() | raw["timestamp"].isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ForecastInputError(
            f"{source}: unparsable timestamp {raw['timestamp'].iloc[row]!r} in row {row + 2} (column timestamp)"
        )
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    y = pd.to_numeric(raw["value"], errors="coerce")
    bad_y = y.isna() & raw["value"].notna()
    if bad_y.any():
        row = int(np.flatnonzero(bad_y.to_numpy())[0])
        value = raw["value"].iloc[row]
        raise ForecastInputError(f"{source}: non-numeric value {value!r} in row {row + 2} (column value)")
    df = pd.DataFrame({"unique_id": raw["series_id"].astype(str), "ds": ds, "y": y.astype(float)})
    dup = df.duplicated(["unique_id", "ds"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        uid, ts = df["unique_id"].iloc[row], df["ds"].iloc[row]
        raise ForecastInputError(f"{source}: duplicate timestamp {ts} for series {uid!r} (row {row + 2})")
    return df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


def regularise(df: pd.DataFrame, freq: str, fill: str = "interpolate", source: str = "input") -> Panel:
    """Put every series on the regular ``freq`` grid between its first and last value.

    ``fill="interpolate"`` fills gaps linearly (counts from a sensor that was down); ``fill="zero"`` fills
    them with 0 (sales: no sale line means nothing sold). Timestamps off the grid are an error.
    """
    check_freq(freq)
    if fill not in ("interpolate", "zero"):
        raise ForecastInputError(f"unknown fill {fill!r}: use interpolate or zero")
    ds = df["ds"]
    pfreq = _weekly_anchor(ds) if freq == "W" else FREQS[freq]
    floor = ds.dt.floor("D") if freq == "W" else ds.dt.floor(pfreq)
    off = (floor != ds) | (ds.dt.dayofweek != ds.iloc[0].dayofweek) if freq == "W" else floor != ds
    if off.any():
        row = int(np.flatnonzero(off.to_numpy())[0])
        raise ForecastInputError(
            f"{source}: timestamp {ds.iloc[row]} of series {df['unique_id'].iloc[row]!r} is not on the {freq!r} grid"
            + (" (weekly rows must all be midnight of the same weekday)" if freq == "W" else "")
        )
    df = df.assign(ds=floor).dropna(subset=["y"])
    parts, filled = [], 0
    for uid, g in df.groupby("unique_id", sort=False):
        grid = pd.date_range(g["ds"].iloc[0], g["ds"].iloc[-1], freq=pfreq)
        y = g.set_index("ds")["y"].reindex(grid)
        n_missing = int(y.isna().sum())
        if n_missing:
            filled += n_missing
            y = y.interpolate(limit_direction="both") if fill == "interpolate" else y.fillna(0.0)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": grid, "y": y.to_numpy(dtype=float)}))
    if not parts:
        raise ForecastInputError(f"{source}: every value is empty")
    return Panel(pd.concat(parts, ignore_index=True), freq, filled, pfreq)


def _weekly_anchor(ds: pd.Series) -> str:
    return "W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[int(ds.iloc[0].dayofweek)]


def check_length(panel: Panel, season: int, horizon: int, source: str = "input") -> None:
    """Each series needs two full seasons of history (one to learn the season, one to check it)."""
    need = 2 * season
    lengths = panel.lengths()
    short = lengths[lengths < need]
    if len(short):
        uid, n = short.index[0], int(short.iloc[0])
        raise ForecastInputError(
            f"{source}: series {uid!r} has {n} {panel.freq!r} points, too short for the season of {season} "
            f"(needs at least {need}; {len(short)} series too short)"
        )
    if horizon < 1:
        raise ForecastInputError(f"horizon must be at least 1, got {horizon}")


def load_panel(
    path_or_df: str | Path | pd.DataFrame, freq: str, fill: str = "interpolate", season: int | None = None,
    horizon: int = 1,
) -> Panel:
    """Read, validate, regularise and length-check a long table."""
    source = "input" if isinstance(path_or_df, pd.DataFrame) else str(path_or_df)
    check_freq(freq)
    df = validate(path_or_df, source) if isinstance(path_or_df, pd.DataFrame) else read_table(path_or_df)
    panel = regularise(df, freq, fill, source)
    check_length(panel, season or SEASONS[freq], horizon, source)
    return panel
