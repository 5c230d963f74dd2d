"""Rolling-origin backtest of the forecaster on real data, with Prophet on the same folds.

    .venv/bin/python tools/bench/forecast_backtest.py --dataset akl --prophet     # footfall, 8 weekly folds, H=168 h
    .venv/bin/python tools/bench/forecast_backtest.py --dataset bakery --prophet  # daily item sales, H=7 d
    .venv/bin/python tools/bench/forecast_backtest.py --dataset cdnow --prophet   # weekly CD sales, H=4 w

Prints a markdown table (MAE per fold of every model, the per-series selection, Prophet, interval coverage)
and writes the full figures as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import forecast_datasets

from collector.forecast.backtest import cut
from collector.forecast.data import load_panel
from collector.forecast.models import History
from collector.forecast.pipeline import BASELINE, Evaluation, Options, evaluate

PRESETS = {
    # name: (loader, freq, horizon, season, holiday country, subdivision, gap fill, history since)
    "akl": (forecast_datasets.akl, "h", 168, 168, "NZ", None, "interpolate", "2024-06-01"),
    "bakery": (forecast_datasets.bakery, "D", 7, 7, "GB", "SCT", "zero", None),
    "cdnow": (forecast_datasets.cdnow, "W", 4, 1, "US", None, "zero", None),
}


def prophet_forecasts(history: History, horizon: int, folds: int, country: str | None, window: int) -> np.ndarray:
    """Prophet fitted per series and fold on the last ``window`` points (daily/weekly/yearly seasonality, holidays)."""
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    out = np.empty((folds, len(history.uids), horizon))
    for j in range(folds):
        train = cut(history, (j + 1) * horizon)
        for i, v in enumerate(train.values):
            y = v[-window:]
            ds = pd.date_range(end=train.end[i], periods=y.size, freq=history.pandas_freq)
            days = y.size * {"h": 1 / 24, "D": 1, "W": 7}[history.freq]
            m = Prophet(yearly_seasonality=history.freq != "h" and days >= 400, interval_width=0.8)
            if country:
                m.add_country_holidays(country_name=country)
            m.fit(pd.DataFrame({"ds": ds, "y": y}))
            future = m.make_future_dataframe(periods=horizon, freq=history.pandas_freq, include_history=False)
            out[j, i] = np.maximum(m.predict(future)["yhat"].to_numpy(), 0.0)
        print(f"prophet fold {j} done", file=sys.stderr, flush=True)
    return out


def table(ev: Evaluation) -> str:
    names = [BASELINE, *[n for n in ev.mae if n not in (BASELINE, "selected")], "selected"]
    head = "| fold (test window ends) | " + " | ".join(names) + " | selected vs naive | cover 80 | cover 95 |"
    lines = [head, "|" + "---|" * (len(names) + 4)]
    for j in range(ev.folds):
        gain = ev.mae["selected"][j] / ev.mae[BASELINE][j] - 1
        cells = " | ".join(f"{ev.mae[n][j]:.2f}" for n in names)
        cover = f"{ev.coverage[80][j]:.3f} | {ev.coverage[95][j]:.3f}"
        lines.append(f"| {ev.fold_end[j]} | {cells} | {gain:+.1%} | {cover} |")
    mean = {n: float(np.mean(ev.mae[n])) for n in names}
    cells = " | ".join(f"**{mean[n]:.2f}**" for n in names)
    gain = mean["selected"] / mean[BASELINE] - 1
    lines.append(f"| mean | {cells} | **{gain:+.1%}** | **{np.mean(ev.coverage[80]):.3f}** | "
                 f"**{np.mean(ev.coverage[95]):.3f}** |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--folds", type=int, default=8)
    ap.add_argument("--calib-folds", type=int, default=4)
    ap.add_argument("--models", help="comma-separated model names (default: the frequency's defaults)")
    ap.add_argument("--prophet", action="store_true", help="add Prophet on the same folds")
    ap.add_argument("--prophet-window", type=int, default=0, help="history points Prophet sees (0: as the GBM)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    loader, freq, horizon, season, country, subdiv, fill, since = PRESETS[args.dataset]
    df = loader()
    if since:
        df = df[pd.to_datetime(df["timestamp"]) >= since]
    panel = load_panel(df, freq, fill=fill, season=season, horizon=horizon)
    history = History.from_frame(panel.df, panel.freq, panel.pandas_freq)
    opts = Options(freq, season=season, models=args.models.split(",") if args.models else None, country=country,
                   subdiv=subdiv, calib_folds=args.calib_folds)
    extra = {}
    t0 = time.perf_counter()
    if args.prophet:
        window = args.prophet_window or max(60 * season, 1000)
        extra["prophet"] = prophet_forecasts(history, horizon, args.folds, country, window)
    t_prophet = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = evaluate(panel, horizon, args.folds, opts, extra=extra)
    t_eval = time.perf_counter() - t0
    print(f"{args.dataset}: {len(history.uids)} series, freq {freq}, horizon {horizon}, {args.folds} folds, "
          f"season {season}, holidays {country}{'/' + subdiv if subdiv else ''}, {panel.filled} gap points filled; "
          f"forecaster {t_eval:.0f} s, prophet {t_prophet:.0f} s")
    print(table(ev))
    print("chosen per fold:", ev.chosen)
    if args.out:
        args.out.write_text(json.dumps(ev.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
