"""Entry points for the CLI, the API and the collector's schedule: files in, forecasts out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from collector.forecast.data import ForecastInputError, Panel, load_panel
from collector.forecast.pipeline import Evaluation, ForecastResult, Options, evaluate, forecast
from collector.forecast.replenish import read_stock, replenishment


def parse_holidays(spec: str | None) -> tuple[str | None, str | None]:
    if not spec:
        return None, None
    country, _, subdiv = spec.partition("/")
    return country.upper(), subdiv or None


def options(freq: str, season: int | None = None, models: str | None = None, holidays: str | None = None,
            calib_folds: int = 4) -> Options:
    country, subdiv = parse_holidays(holidays)
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    return Options(freq, season=season, models=names, country=country, subdiv=subdiv, calib_folds=calib_folds)


def forecast_table(data: str | Path | pd.DataFrame, freq: str, horizon: int, opts: Options,
                   fill: str = "interpolate") -> ForecastResult:
    panel = load_panel(data, freq, fill=fill, season=opts.main_season, horizon=horizon)
    return forecast(panel, horizon, opts)


def backtest_table(data: str | Path | pd.DataFrame, freq: str, horizon: int, folds: int, opts: Options,
                   fill: str = "interpolate") -> Evaluation:
    panel: Panel = load_panel(data, freq, fill=fill, season=opts.main_season, horizon=horizon)
    return evaluate(panel, horizon, folds, opts)


def run_forecast_command(args: argparse.Namespace) -> int:
    """``smartstore forecast``: forecast (or backtest) a CSV, print a summary or JSON, optionally write a CSV."""
    if args.horizon < 1:
        raise ForecastInputError(f"--horizon must be at least 1, got {args.horizon}")
    opts = options(args.freq, args.season, args.models, args.holidays)
    if args.backtest:
        ev = backtest_table(args.input, args.freq, args.horizon, args.folds, opts, args.fill)
        if args.json:
            print(json.dumps(ev.to_dict(), indent=1))
        else:
            s = ev.summary()
            for name, value in s["mean_mae"].items():  # type: ignore[attr-defined]
                print(f"{name:16s} MAE {value:.3f}")
            print(f"selected vs seasonal naive: {s['selected_vs_baseline']:+.1%}; interval coverage "
                  + ", ".join(f"{k}%: {v:.3f}" for k, v in s["coverage"].items()))  # type: ignore[attr-defined]
        if args.out:
            Path(args.out).write_text(json.dumps(ev.to_dict(), indent=1))
        return 0
    result = forecast_table(args.input, args.freq, args.horizon, opts, args.fill)
    table = result.table
    replen = None
    if args.stock:
        replen = replenishment(table, read_stock(str(args.stock)), args.lead_time)
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.3f")
    if args.json:
        out = {"chosen": result.chosen, "backtest_mae": result.backtest_mae, "filled": result.filled,
               "forecasts": json.loads(table.to_json(orient="records", date_format="iso"))}
        if replen is not None:
            out["replenishment"] = replen.to_dict(orient="records")
        print(json.dumps(out))
        return 0
    counts = pd.Series(result.chosen).value_counts().to_dict()
    print(f"{args.input}: {len(result.chosen)} series, {args.horizon} steps; models chosen: {counts}"
          + (f"; {result.filled} missing points filled" if result.filled else ""))
    if args.out:
        print(f"forecasts written to {args.out}")
    else:
        table.to_csv(sys.stdout, index=False, float_format="%.3f")
    if replen is not None:
        print(replen.to_string(index=False))
    return 0
