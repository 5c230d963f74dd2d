"""The Dask engine of ``smartstore forecast --engine dask``: the candidates' fits on a cluster, series split by id.

Models fitted per series (naive, seasonal mean, statsforecast, yearly: nearly all of the time) run on the workers,
one task per block of consecutive series; a model fitted across series (``cross_series``: the global GBM) runs as
one task on the whole panel. Both call :func:`~collector.forecast.pipeline.fit_models`, the local code. Selection,
calibration and the output table stay in the client, unchanged, so the forecasts are those of a local run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from collector.forecast.backtest import Backtest
from collector.forecast.models import History, Model
from collector.forecast.pipeline import FITTER, fit_models
from errors import SmartstoreError

#: Tasks per worker: small enough blocks that a slow block does not leave the other workers idle.
TASKS_PER_WORKER = 4
CONNECT_TIMEOUT_S = 10


class EngineError(SmartstoreError):
    """The cluster cannot be reached or lost the work (a worker died)."""


def blocks(n: int, parts: int) -> list[list[int]]:
    """``parts`` (at most ``n``) blocks of consecutive positions ``0 .. n-1``, sizes differing by at most one."""
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [list(range(a, b)) for a, b in pairwise(edges)]


@dataclass
class DaskFitter:
    """A :data:`~collector.forecast.pipeline.Fitter` that runs :func:`fit_models` on the client's cluster."""

    client: Any  # distributed.Client
    where: str  # the scheduler's address, for errors

    def __call__(self, history: History, models: Sequence[Model], horizon: int, folds: int, final: bool,
                 ) -> tuple[Backtest, dict[str, np.ndarray]]:
        from distributed import KilledWorker

        split = [m for m in models if not getattr(m, "cross_series", False)]
        whole = [m for m in models if getattr(m, "cross_series", False)]
        workers = max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))
        parts = blocks(len(history.uids), TASKS_PER_WORKER * workers) if split else []
        try:
            data = self.client.scatter([history.subset(idx) for idx in parts] + ([history] if whole else []),
                                       hash=False)
            futures = [self.client.submit(fit_models, d, split, horizon, folds, final, pure=False)
                       for d in data[:len(parts)]]
            futures += [self.client.submit(fit_models, d, whole, horizon, folds, final, pure=False)
                        for d in data[len(parts):]]
            results = self.client.gather(futures)
        except (KilledWorker, CancelledError, OSError, TimeoutError) as exc:  # cancelled: the scheduler is gone
            raise EngineError(f"dask cluster {self.where}: the forecast was lost ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
        return _merge(history, models, results[:len(parts)], results[len(parts):])


def _merge(history: History, models: Sequence[Model], split: list[tuple[Backtest, dict[str, np.ndarray]]],
           whole: list[tuple[Backtest, dict[str, np.ndarray]]]) -> tuple[Backtest, dict[str, np.ndarray]]:
    """One backtest and final forecasts, series in the input order and models in the given order (which breaks
    ties in the selection and orders the ensemble's sum, so the numbers match a local run bit for bit)."""
    forecasts: dict[str, np.ndarray] = {}
    final: dict[str, np.ndarray] = {}
    for m in models:
        if whole and m.name in whole[0][0].forecasts:
            forecasts[m.name] = whole[0][0].forecasts[m.name]
            if m.name in whole[0][1]:
                final[m.name] = whole[0][1][m.name]
            continue
        forecasts[m.name] = np.concatenate([bt.forecasts[m.name] for bt, _ in split], axis=1)
        if split[0][1]:
            final[m.name] = np.concatenate([f[m.name] for _, f in split], axis=0)
    actuals = np.concatenate([bt.actuals for bt, _ in split], axis=1) if split else whole[0][0].actuals
    return Backtest(list(history.uids), forecasts, actuals), final


@contextmanager
def dask_engine(scheduler: str | None = None, workers: int | None = None) -> Iterator[None]:
    """Within the block, forecasts fit on the Dask cluster whose scheduler is at ``scheduler``
    (``tcp://host:8786``) or, without one, on a local cluster of ``workers`` processes (default: one per core)."""
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        for name in ("distributed", "distributed.client"):  # first in, so last out: closing logs too
            stack.enter_context(_quiet(logging.getLogger(name)))
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError, ValueError) as exc:
                raise EngineError(f"--scheduler {scheduler}: no Dask scheduler reachable there "
                                  f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
            where = scheduler
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
            where = f"local ({len(cluster.workers)} workers)"
        token = FITTER.set(DaskFitter(client, where))
        try:
            yield
        finally:
            FITTER.reset(token)


@contextmanager
def _quiet(log: logging.Logger) -> Iterator[None]:
    """Only critical records from ``log``: a lost scheduler is our one-line error, not Dask's tracebacks."""
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)
