"""Input validation of the forecaster: every bad table gives one clear line naming the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smartstore
from collector.forecast.calendar import calendar_features, holiday_flags
from collector.forecast.data import ForecastInputError, load_panel


def _hourly(n: int, series: str = "s1", start: str = "2025-01-06") -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq="h")
    return pd.DataFrame({"series_id": series, "timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"),
                         "value": np.arange(n, dtype=float) % 24})


def _cli_error(tmp_path: Path, df: pd.DataFrame | str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    path = tmp_path / "in.csv"
    if isinstance(df, str):
        path.write_text(df)
    else:
        df.to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "h", "--horizon", "24", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("smartstore: error: ") and err.count("\n") == 1, err
    return err


def test_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _cli_error(tmp_path, _hourly(400).drop(columns="value"), capsys)
    assert "missing column(s) value" in err and "in.csv" in err


def test_unparsable_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _hourly(400)
    df.loc[7, "timestamp"] = "yesterday at noon"
    err = _cli_error(tmp_path, df, capsys)
    assert "unparsable timestamp 'yesterday at noon'" in err and "row 9" in err


def test_duplicate_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.concat([_hourly(400), _hourly(400).iloc[[5]]], ignore_index=True)
    err = _cli_error(tmp_path, df, capsys)
    assert "duplicate timestamp 2025-01-06 05:00:00 for series 's1'" in err


def test_series_too_short_for_any_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """200 hours forecast on the daily season (docs: Short histories); 40 is below the minimum of 24 + 24 + 4."""
    df = pd.concat([_hourly(400, "long"), _hourly(40, "short")], ignore_index=True)
    err = _cli_error(tmp_path, df, capsys)
    assert "series 'short' has 40 'h' points, fewer than the 52 a 24-step forecast needs" in err


def test_off_grid_and_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _hourly(400)
    df.loc[3, "timestamp"] = "2025-01-06 03:30:00"
    assert "not on the 'h' grid" in _cli_error(tmp_path, df, capsys)
    assert "not a readable CSV table" in _cli_error(tmp_path, "", capsys)
    assert "the table has no rows" in _cli_error(tmp_path, "series_id,timestamp,value\n", capsys)
    code = smartstore.main(["forecast", "--input", str(tmp_path / "nowhere.csv"), "--freq", "h", "--horizon", "24"])
    assert code == 2 and "nowhere.csv: no such file" in capsys.readouterr().err


def test_gaps_filled_and_reported() -> None:
    df = _hourly(400).drop(index=[10, 11, 12])
    panel = load_panel(df, "h")
    assert panel.filled == 3
    y = panel.df["y"].to_numpy()
    assert len(y) == 400 and np.allclose(y[9:14], [9, 10, 11, 12, 13])  # linear fill between 9 and 13
    zero = load_panel(df, "h", fill="zero")
    assert np.allclose(zero.df["y"].to_numpy()[10:13], 0.0)


def test_weekly_grid_keeps_weekday() -> None:
    ts = pd.date_range("2024-01-03", periods=120, freq="W-WED")
    df = pd.DataFrame({"series_id": "a", "timestamp": ts, "value": 1.0})
    panel = load_panel(df, "W")
    assert panel.pandas_freq == "W-WED" and len(panel.df) == 120
    df.loc[5, "timestamp"] = ts[5] + pd.Timedelta(days=1)
    with pytest.raises(ForecastInputError, match="same weekday"):
        load_panel(df, "W")


def test_unknown_frequency() -> None:
    with pytest.raises(ForecastInputError, match="unknown frequency 'M'"):
        load_panel(_hourly(400), "M")


def test_holiday_calendars() -> None:
    days = pd.to_datetime(["2025-12-25", "2025-12-24", "2025-02-06", "2026-01-02", "2025-07-15"])
    assert holiday_flags(days, "NZ").tolist() == [1, 0, 1, 1, 0]  # Waitangi Day, day after New Year (NZ)
    assert holiday_flags(days, "GB", "SCT").tolist() == [1, 0, 0, 1, 0]  # 2 January is a holiday in Scotland
    assert holiday_flags(days, "GB", "ENG").tolist() == [1, 0, 0, 0, 0]
    feats = calendar_features(pd.DatetimeIndex(["2025-12-24 17:00"]), "h", "NZ")
    assert feats["hour"][0] == 17 and feats["dow"][0] == 2 and feats["xmas"][0] == -1 and feats["holiday_next"][0] == 1
    with pytest.raises(ForecastInputError, match="unknown public-holiday calendar 'XX'"):
        holiday_flags(days, "XX")
