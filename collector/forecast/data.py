"""Load and validate long tables ``series_id,timestamp,value[,events]`` into a regular panel.

The panel is a pandas DataFrame with columns ``unique_id`` (str), ``ds`` (datetime64) and ``y`` (float),
sorted by series then time, on a regular grid of the given frequency (gaps filled, see :func:`regularise`).
Every problem raises :class:`ForecastInputError` naming the file, column, series or value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from collector.forecast.plan import minimum
from errors import SmartstoreError

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
    columns: Columns | None = None  # the input's column names (None: series_id,timestamp,value)
    events: pd.DataFrame | None = None  # unique_id, ds, event: every row with a flag, forecast steps included

    @property
    def series(self) -> list[str]:
        return list(pd.unique(self.df["unique_id"]))

    def lengths(self) -> pd.Series:
        return self.df.groupby("unique_id", sort=False).size()


def check_freq(freq: str) -> str:
    if freq not in FREQS:
        raise ForecastInputError(f"unknown frequency {freq!r}: use one of {', '.join(FREQS)}")
    return freq


def read_table(path: str | Path, columns: Columns | None = None, events: str | None = None) -> pd.DataFrame:
    """Read a CSV long table, checking the required columns exist."""
    path = Path(path)
    if not path.is_file():
        raise ForecastInputError(f"{path}: no such file")
    ids = {c: str for c in (*ALIASES["id"], *([columns.id] if columns else []))}
    try:
        raw = pd.read_csv(path, dtype=ids)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ForecastInputError(f"{path}: not a readable CSV table ({str(exc).splitlines()[0]})") from exc
    return validate(raw, str(path), columns, events)


@dataclass(frozen=True)
class Columns:
    """The input's column names (kept in the output): series id, timestamp, value, and an optional 0/1 events
    column (holidays, promotions) that models able to use regressors take."""

    id: str = "series_id"
    time: str = "timestamp"
    value: str = "value"
    events: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> Columns | None:
        """``ID,TIME,VALUE`` (``--columns``); None (detect them) when not given."""
        if not spec:
            return None
        names = [c.strip() for c in spec.split(",")]
        if len(names) != 3 or not all(names):
            raise ForecastInputError(f"--columns {spec!r}: expected ID,TIME,VALUE (three column names)")
        return cls(*names)


#: Names tried, in order, when the columns are not given: the documented ones, then statsforecast's.
ALIASES = {"id": ("series_id", "unique_id"), "time": ("timestamp", "ds"), "value": ("value", "y")}


def detect_columns(raw: pd.DataFrame, events: str | None = None) -> Columns:
    """The id and time columns by name (``series_id``/``unique_id``, ``timestamp``/``ds``); the value column by
    name (``value``/``y``), else the only other numeric column (``series_id,timestamp,sales`` works as is)."""
    found = {k: next((c for c in names if c in raw.columns), names[0]) for k, names in ALIASES.items()}
    if found["value"] not in raw.columns:
        taken = {found["id"], found["time"], events}
        numeric = [c for c in raw.columns if c not in taken and pd.api.types.is_numeric_dtype(raw[c])
                   and not pd.api.types.is_bool_dtype(raw[c])]
        if len(numeric) == 1:
            found["value"] = str(numeric[0])
    return Columns(found["id"], found["time"], found["value"], events)


def _first_bad(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _events(raw: pd.DataFrame, col: str, source: str) -> pd.Series:
    """A 0/1 column (booleans, 0/1, true/false/yes/no; empty is 0)."""
    words = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "": 0.0}
    val = raw[col].map(lambda x: words.get(x.strip().lower(), x) if isinstance(x, str) else x)
    num = pd.to_numeric(val, errors="coerce").astype(float)
    bad = (num.isna() & val.notna()) | ~(num.isna() | num.isin([0.0, 1.0]))
    if bad.any():
        row = _first_bad(bad)
        raise ForecastInputError(f"{source}: events column {col!r} must be 0/1 or true/false, got "
                                 f"{raw[col].iloc[row]!r} in row {row + 2}")
    return num.fillna(0.0)


def validate(raw: pd.DataFrame, source: str = "input", columns: Columns | None = None, events: str | None = None,
             ) -> pd.DataFrame:
    """Check columns and types; return ``unique_id, ds, y`` (plus ``event`` with an ``events`` column) sorted (not
    yet regular). ``columns``: the names (None: :func:`detect_columns`); ``df.attrs["columns"]`` records them."""
    cols = replace(columns, events=events) if columns else detect_columns(raw, events)
    need = (cols.id, cols.time, cols.value) + ((cols.events,) if cols.events else ())
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise ForecastInputError(
            f"{source}: missing column(s) {', '.join(missing)} (need {','.join(need)}; "
            f"found {','.join(map(str, raw.columns)) or 'none'}; --columns ID,TIME,VALUE names them)"
        )
    if raw.empty:
        raise ForecastInputError(f"{source}: the table has no rows")
    stamps = raw[cols.time]
    ds = pd.to_datetime(stamps, errors="coerce", format="mixed")
    bad = ds.isna() & stamps.notna() | stamps.isna()
    if bad.any():
        row = _first_bad(bad)
        raise ForecastInputError(f"{source}: unparsable timestamp {stamps.iloc[row]!r} in row {row + 2} "
                                 f"(column {cols.time})")
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    y = pd.to_numeric(raw[cols.value], errors="coerce")
    bad_y = y.isna() & raw[cols.value].notna()
    if bad_y.any():
        row = _first_bad(bad_y)
        value = raw[cols.value].iloc[row]
        raise ForecastInputError(f"{source}: non-numeric value {value!r} in row {row + 2} (column {cols.value})")
    df = pd.DataFrame({"unique_id": raw[cols.id].astype(str), "ds": ds, "y": y.astype(float)})
    if cols.events:
        df["event"] = _events(raw, cols.events, source).to_numpy()
    dup = df.duplicated(["unique_id", "ds"])
    if dup.any():
        row = _first_bad(dup)
        uid, ts = df["unique_id"].iloc[row], df["ds"].iloc[row]
        raise ForecastInputError(f"{source}: duplicate timestamp {ts} for series {uid!r} (row {row + 2})")
    out = df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    out.attrs["columns"] = cols
    return out


def regularise(df: pd.DataFrame, freq: str, fill: str = "interpolate", source: str = "input") -> Panel:
    """Put every series on the regular ``freq`` grid between its first and last value.

    ``fill="interpolate"`` fills gaps linearly (counts from a sensor that was down); ``fill="zero"`` fills
    them with 0 (sales: no sale line means nothing sold). Timestamps off the grid are an error.
    """
    check_freq(freq)
    columns = df.attrs.get("columns")
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
    df = df.assign(ds=floor)
    events = df[["unique_id", "ds", "event"]] if "event" in df.columns else None
    df = df.dropna(subset=["y"])
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
    return Panel(pd.concat(parts, ignore_index=True), freq, filled, pfreq, columns, events)


def _weekly_anchor(ds: pd.Series) -> str:
    return "W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[int(ds.iloc[0].dayofweek)]


def check_length(panel: Panel, season: int, horizon: int, source: str = "input") -> None:
    """Each series needs the points of at least one plan (:func:`collector.forecast.plan.minimum`)."""
    if horizon < 1:
        raise ForecastInputError(f"horizon must be at least 1, got {horizon}")
    seasons = [s for s in ALL_SEASONS[panel.freq] if s <= season] or [season]
    need = minimum(horizon, seasons)
    lengths = panel.lengths()
    short = lengths[lengths < need]
    if len(short):
        uid, n = short.index[0], int(short.iloc[0])
        raise ForecastInputError(
            f"{source}: series {uid!r} has {n} {panel.freq!r} points, fewer than the {need} a {horizon}-step forecast "
            f"needs ({len(short)} series too short; see docs/forecasting.md, Short histories)"
        )


def event_arrays(panel: Panel, horizon: int, season: int) -> list[np.ndarray] | None:
    """Per series (in panel order), its event flags from its first point to ``horizon`` steps past its last value.
    A step with no row in the input is 0 in the past; in the future it repeats the flag one ``season`` earlier."""
    if panel.events is None:
        return None
    flags = panel.events.groupby("unique_id", sort=False)
    out = []
    for uid, g in panel.df.groupby("unique_id", sort=False):
        grid = pd.date_range(g["ds"].iloc[0], periods=len(g) + horizon, freq=panel.pandas_freq)
        ev = flags.get_group(uid).set_index("ds")["event"].reindex(grid).to_numpy(dtype=float)
        for k in range(len(g), ev.size):
            if np.isnan(ev[k]):
                ev[k] = ev[k - season] if k >= season else 0.0
        out.append(np.nan_to_num(ev))
    return out


def load_panel(
    path_or_df: str | Path | pd.DataFrame, freq: str, fill: str = "interpolate", season: int | None = None,
    horizon: int = 1, columns: Columns | None = None, events: str | None = None,
) -> Panel:
    """Read, validate, regularise and length-check a long table."""
    source = "input" if isinstance(path_or_df, pd.DataFrame) else str(path_or_df)
    check_freq(freq)
    df = (validate(path_or_df, source, columns, events) if isinstance(path_or_df, pd.DataFrame)
          else read_table(path_or_df, columns, events))
    panel = regularise(df, freq, fill, source)
    check_length(panel, season or SEASONS[freq], horizon, source)
    return panel
