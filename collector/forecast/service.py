"""Entry points for the CLI, the API and the collector's schedule: files in, forecasts out."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from collector.forecast.data import Columns, ForecastInputError, Panel, load_panel
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
                   fill: str = "interpolate", columns: Columns | None = None, events: str | None = None,
                   ) -> ForecastResult:
    panel = load_panel(data, freq, fill=fill, season=opts.main_season, horizon=horizon, columns=columns,
                       events=events)
    return forecast(panel, horizon, opts)


def backtest_table(data: str | Path | pd.DataFrame, freq: str, horizon: int, folds: int, opts: Options,
                   fill: str = "interpolate", columns: Columns | None = None, events: str | None = None,
                   ) -> Evaluation:
    panel: Panel = load_panel(data, freq, fill=fill, season=opts.main_season, horizon=horizon, columns=columns,
                              events=events)
    return evaluate(panel, horizon, folds, opts)


def warn(lines: list[str]) -> None:
    """Print each warning as one ``smartstore: warning:`` line on stderr."""
    for line in lines:
        print(f"smartstore: warning: {line}", file=sys.stderr)


@dataclass(frozen=True)
class ForecastRequest:
    """What to forecast: a long table ``series_id,timestamp,value`` (a CSV path or a frame) at ``freq``, ``horizon``
    steps ahead; ``models`` is a comma list of candidates, ``holidays`` ``COUNTRY[/SUBDIV]``; ``columns``
    ``ID,TIME,VALUE`` names the columns (default: detected), ``events`` a 0/1 column of holidays or promotions."""

    input: str | Path | pd.DataFrame
    freq: str
    horizon: int
    season: int | None = None
    models: str | None = None
    holidays: str | None = None
    fill: str = "interpolate"
    columns: str | None = None
    events: str | None = None

    def options(self) -> Options:
        if self.horizon < 1:
            raise ForecastInputError(f"--horizon must be at least 1, got {self.horizon}")
        return options(self.freq, self.season, self.models, self.holidays)


def run_backtest(request: ForecastRequest, folds: int, out: Path | None = None, as_json: bool = False) -> int:
    """``smartstore forecast --backtest``: rolling-origin backtest; prints MAE per model (or JSON), writes ``out``."""
    opts = request.options()
    ev = backtest_table(request.input, request.freq, request.horizon, folds, opts, request.fill,
                        Columns.parse(request.columns), request.events)
    warn(ev.warnings)
    if as_json:
        print(json.dumps(ev.to_dict()))
    else:
        s = ev.summary()
        for name, value in s["mean_mae"].items():  # type: ignore[attr-defined]
            print(f"{name:16s} MAE {value:.3f}")
        print(f"selected vs seasonal naive: {s['selected_vs_baseline']:+.1%}; interval coverage "
              + ", ".join(f"{k}%: {v:.3f}" for k, v in s["coverage"].items()))  # type: ignore[attr-defined]
    if out:
        Path(out).write_text(json.dumps(ev.to_dict(), indent=1))
    return 0


def _json_lines(result: ForecastResult, replen: pd.DataFrame | None) -> None:
    """One JSON object per line: each forecast row (the input's column names), each replenishment row, then the
    summary; every object says what it is in ``record``."""
    rows = json.loads(result.output().to_json(orient="records", date_format="iso"))
    for row in rows:
        print(json.dumps({"record": "forecast", **row}))
    for rec in [] if replen is None else replen.to_dict(orient="records"):
        print(json.dumps({"record": "replenishment", **rec}))
    print(json.dumps({"record": "summary", "chosen": result.chosen, "backtest_mae": result.backtest_mae,
                      "filled": result.filled, "warnings": result.warnings}))


def run_forecast(request: ForecastRequest, out: Path | None = None, stock: Path | None = None, lead_time: int = 7,
                 as_json: bool = False) -> int:
    """``smartstore forecast``: forecast a table, print a summary (or JSON lines), optionally write a CSV with the
    input's column names; ``stock`` (``series_id,stock[,lead_time]``) adds replenishment suggestions."""
    opts = request.options()
    result = forecast_table(request.input, request.freq, request.horizon, opts, request.fill,
                            Columns.parse(request.columns), request.events)
    warn(result.warnings)
    table = result.output()
    replen = None
    if stock:
        replen = replenishment(result.table, read_stock(str(stock)), lead_time)
    if out:
        table.to_csv(out, index=False, float_format="%.3f")
    if as_json:
        _json_lines(result, replen)
        return 0
    counts = pd.Series(result.chosen).value_counts().to_dict()
    print(f"{request.input}: {len(result.chosen)} series, {request.horizon} steps; models chosen: {counts}"
          + (f"; {result.filled} missing points filled" if result.filled else ""))
    if out:
        print(f"forecasts written to {out}")
    else:
        table.to_csv(sys.stdout, index=False, float_format="%.3f")
    if replen is not None:
        print(replen.to_string(index=False))
    return 0
