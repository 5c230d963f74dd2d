"""``smartstore`` subcommands of the ``collector`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from collector.fleet.cli import register as _register_fleet
from collector.pricing.cli import register as _register_pricing
from collector.recommend import DEFAULT_MODEL as DEFAULT_RECOMMENDER_MODEL
from collector.sentiment.cli import register as _register_sentiment
from smartstore import Subparsers, UserError, add_command, command_group

if TYPE_CHECKING:
    from collector.config import CollectorConfig
    from collector.store import Store


def _collector_config(args: argparse.Namespace) -> CollectorConfig:
    from collector.config import load_config

    overrides = {"store": args.db, "schema_name": getattr(args, "schema", None)}
    if getattr(args, "broker", None):
        host, _, port = args.broker.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"--broker {args.broker!r}: expected HOST:PORT")
        overrides.update({"mqtt.host": host, "mqtt.port": port})
    names = {"group": "mqtt.group", "client_id": "mqtt.client_id", "token": "api.token", "protocol": "mqtt.protocol"}
    for key, name in names.items():
        if getattr(args, key, None):
            overrides[name] = getattr(args, key)
    if getattr(args, "listen", None):
        host, _, port = args.listen.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"--listen {args.listen!r}: expected HOST:PORT")
        overrides.update({"api.host": host, "api.port": port})
    return load_config(args.config, overrides)


def _store_error(url: str, exc: Exception) -> UserError:
    """A database that cannot be opened, as one line (the URL without its password)."""
    shown = url.split("@")[-1] if "://" in url else url
    return UserError(f"cannot open the store {shown}: {str(exc).strip().splitlines()[0]}")


def _is_store_error(exc: Exception) -> bool:
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("psycopg", "sqlite3")


@contextmanager
def opened_store(args: argparse.Namespace) -> Iterator[Store]:
    """The store of the command's config, closed afterwards; one that cannot be opened is one line (exit 2)."""
    from collector.store import open_store

    config = _collector_config(args)
    try:
        store = open_store(config.store, config.schema_name)
    except Exception as exc:
        if _is_store_error(exc):
            raise _store_error(config.store, exc) from None
        raise
    try:
        yield store
    finally:
        store.close()


def _collector_run(args: argparse.Namespace) -> int:
    from collector.service import Collector

    config = _collector_config(args)
    if not args.no_api and not config.api.token:
        raise UserError("the API needs a token: set api.token in the config, SMARTSTORE_COLLECTOR_TOKEN, or --token "
                        "(or run with --no-api)")
    if not args.no_api:
        from collector.recommend.api import configured_model

        configured_model(config.recommender)  # a named model file that is missing or corrupt: one line, exit 2
    try:
        collector = Collector(config, api=not args.no_api)
    except Exception as exc:
        if _is_store_error(exc):
            raise _store_error(config.store, exc) from None
        raise
    collector.run_forever()
    return 0


def _collector_retire(args: argparse.Namespace) -> int:
    from collector.ingest import retire_session

    config = _collector_config(args)
    m = config.mqtt
    try:
        accepted = retire_session(config)
    except OSError as exc:
        raise UserError(f"cannot reach the broker at {m.host}:{m.port}: {exc.strerror or exc}") from None
    if not accepted:
        raise UserError(f"the broker at {m.host}:{m.port} refused client {m.client_id!r} (check mqtt.username/"
                        "password)")
    print(f"retired replica {m.client_id!r}: the broker at {m.host}:{m.port} dropped its session and its share of "
          f"group {m.group!r}")
    return 0


def _collector_import_sales(args: argparse.Namespace) -> int:
    from collector.sales import read_sales

    rows = list(read_sales(args.csv, args.store))
    with opened_store(args) as store:
        added = store.import_sales(rows)
    print(f"{args.csv}: {len(rows)} sale lines read, {added} new, {len(rows) - added} already stored")
    return 0


def _collector_forecast_refresh(args: argparse.Namespace) -> int:
    from collector.forecast.schedule import refresh

    config = _collector_config(args)
    with opened_store(args) as store:
        outcomes = refresh(store, config.forecast.schedule, args.store)
    for o in outcomes:
        print(o.line())
    if not any(o.error is None for o in outcomes):
        raise UserError("nothing could be forecast" + (f" for store {args.store!r}" if args.store else ""))
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="collector YAML config (see docs/collector.md)")
    parser.add_argument("--db", help="SQLite file or postgresql:// URL (default collector.db; "
                        "env SMARTSTORE_COLLECTOR_DB)")
    parser.add_argument("--schema", help="PostgreSQL schema for the tables")


def _register_collector(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "collector", "the cloud collector: MQTT ingest, storage, API and dashboard")
    run = add_command(group, "run", "ingest events from MQTT into the store and serve the API and dashboard",
                      _collector_run)
    _store_options(run)
    run.add_argument("--broker", help="MQTT broker HOST:PORT (default 127.0.0.1:1883)")
    run.add_argument("--group", help="shared-subscription group (replicas in one group split the load)")
    run.add_argument("--client-id", dest="client_id", help="MQTT client id: unique per replica and stable across its "
                     "restarts (its broker session and share); default collector-<hostname>")
    run.add_argument("--listen", help="API HOST:PORT (default 127.0.0.1:8080)")
    run.add_argument("--token", help="API bearer token (better: SMARTSTORE_COLLECTOR_TOKEN)")
    run.add_argument("--no-api", action="store_true", help="ingest only")
    run.add_argument("--protocol", choices=("5", "3.1.1"), help="MQTT protocol version (default 5)")
    retire = add_command(group, "retire", "end a stopped replica's broker session for good (its share and queue)",
                         _collector_retire)
    retire.add_argument("--client-id", dest="client_id", required=True, help="the replica's MQTT client id")
    retire.add_argument("--broker", help="MQTT broker HOST:PORT (default 127.0.0.1:1883)")
    retire.add_argument("--config", type=Path, help="collector YAML config (broker, credentials, TLS)")
    retire.set_defaults(db=None)
    sales = add_command(group, "import-sales", "import point-of-sale history from a CSV file", _collector_import_sales)
    sales.add_argument("csv", type=Path, help="CSV with sku/item, time (or date+time), qty, price, receipt, store")
    sales.add_argument("--store", help="store id for files without a store column")
    _store_options(sales)
    refresh = add_command(group, "forecast-refresh", "compute and store the forecasts now (footfall per store and "
                          "camera, demand per SKU), as the schedule does", _collector_forecast_refresh)
    refresh.add_argument("--store", help="only this store (default: every store)")
    _store_options(refresh)


def _forecast(args: argparse.Namespace) -> int:
    from collector.forecast.service import ForecastRequest, run_backtest, run_forecast

    request = ForecastRequest(args.input, args.freq, args.horizon, season=args.season, models=args.models,
                              holidays=args.holidays, fill=args.fill, columns=args.columns, events=args.events)
    if args.engine == "local" and (args.scheduler or args.workers):
        raise UserError("--scheduler and --workers need --engine dask")
    if args.workers is not None and (args.scheduler or args.workers < 1):
        raise UserError(f"--workers {args.workers}: the size (1 or more) of a local cluster, not with --scheduler")
    with _engine(args.engine, args.scheduler, args.workers):
        if args.backtest:
            return run_backtest(request, args.folds, out=args.out, as_json=args.json)
        return run_forecast(request, out=args.out, stock=args.stock, lead_time=args.lead_time, as_json=args.json)


def _engine(name: str, scheduler: str | None, workers: int | None) -> AbstractContextManager[None]:
    if name == "local":
        return nullcontext()
    from collector.forecast.distributed import dask_engine

    return dask_engine(scheduler, workers)


def _register_forecast(subparsers: Subparsers) -> None:
    fc = add_command(subparsers, "forecast", "forecast a long table series_id,timestamp,value (footfall, sales)",
                     _forecast)
    fc.add_argument("--input", type=Path, required=True, help="CSV with columns series_id,timestamp,value")
    fc.add_argument("--columns", metavar="ID,TIME,VALUE",
                    help="the input's id, time and value columns (default: detected; the output keeps them)")
    fc.add_argument("--events", metavar="COLUMN", help="a 0/1 column of holidays or promotions, used as a regressor")
    fc.add_argument("--freq", choices=("h", "D", "W"), required=True, help="hourly, daily or weekly data")
    fc.add_argument("--horizon", type=int, required=True, help="steps to forecast (e.g. 168 hours)")
    fc.add_argument("--out", type=Path, help="write forecasts with 80%%/95%% intervals to this CSV")
    fc.add_argument("--backtest", action="store_true", help="rolling-origin backtest instead of forecasting")
    fc.add_argument("--folds", type=int, default=8, help="backtest folds (with --backtest)")
    fc.add_argument("--season", type=int, help="main season in steps (default 168 h, 7 D, 52 W)")
    fc.add_argument("--models", help="comma-separated candidates (default per frequency; see docs/forecasting.md)")
    fc.add_argument("--holidays", metavar="COUNTRY[/SUBDIV]", help="public-holiday calendar, e.g. NZ, GB/SCT, US")
    fc.add_argument("--fill", choices=("interpolate", "zero"), default="interpolate",
                    help="how to fill missing grid points (zero for sales)")
    fc.add_argument("--stock", type=Path, help="CSV series_id,stock[,lead_time]: add replenishment suggestions")
    fc.add_argument("--lead-time", type=int, default=7, help="lead time in steps for --stock (default 7)")
    fc.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    fc.add_argument("--engine", choices=("local", "dask"), default="local",
                    help="fit the candidates here or on a Dask cluster, series split by id (same forecasts)")
    fc.add_argument("--scheduler", metavar="tcp://HOST:8786",
                    help="with --engine dask: an existing cluster's scheduler (default: a local cluster)")
    fc.add_argument("--workers", type=int, help="with --engine dask and no --scheduler: worker processes "
                    "(default: one per core)")


def _recommend_fit(args: argparse.Namespace) -> int:
    from collector.recommend.service import fit

    print(fit(args.transactions, args.out, embeddings=args.embeddings, lam=args.lam))
    return 0


def _recommend_query(args: argparse.Namespace) -> int:
    import json

    from collector.recommend.service import query

    records, lines = query(args.model, k=args.k, basket=args.basket, baskets=args.baskets,
                           substitutes=args.substitutes, at=args.at)
    for line in (json.dumps(r) for r in records) if args.json else lines:  # --json: JSON lines
        print(line)
    return 0


def _register_recommend(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "recommend", "basket recommender: fit on transactions, query baskets")
    fit = add_command(group, "fit", "fit the recommender on basket lines transaction_id,item[,timestamp,customer_id]",
                      _recommend_fit)
    fit.add_argument("--transactions", type=Path, required=True, help="CSV of basket lines")
    fit.add_argument("--out", type=Path, default=DEFAULT_RECOMMENDER_MODEL, help="model file to write (.npz; default "
                     f"{DEFAULT_RECOMMENDER_MODEL}, where the collector looks unless recommender.model says otherwise)")
    fit.add_argument("--embeddings", type=Path, help="optional .npz of SKU image embeddings (for substitutes)")
    fit.add_argument("--lam", type=float, default=50.0, help="EASE L2 regularisation")
    query = add_command(group, "query", "frequently bought together for baskets, or substitutes for a SKU",
                        _recommend_query)
    query.add_argument("--model", type=Path, default=DEFAULT_RECOMMENDER_MODEL,
                       help=f"fitted model file (default {DEFAULT_RECOMMENDER_MODEL})")
    what = query.add_mutually_exclusive_group(required=True)
    what.add_argument("--basket", help='items in the basket, comma-separated: "Coffee,Bread"')
    what.add_argument("--baskets", type=Path, help="CSV of basket lines transaction_id,item[,timestamp]")
    what.add_argument("--substitutes", metavar="SKU", help="substitutes for an out-of-stock SKU")
    query.add_argument("--at", help="basket time (ISO) for --basket: context of hour and weekday")
    query.add_argument("--k", type=int, default=10)
    query.add_argument("--json", action="store_true", help="JSON lines: one object per basket (per transaction with "
                       "--baskets), one for --substitutes")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (
    _register_collector, _register_forecast, _register_recommend, _register_fleet, _register_pricing,
    _register_sentiment,
)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
