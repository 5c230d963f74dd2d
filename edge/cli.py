"""``smartstore`` subcommands of the ``edge`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from smartstore import Subparsers, UserError, add_command, command_group


def _edge_run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from edge.service import run_service

    try:
        return run_service(args.config)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _edge_check(args: argparse.Namespace) -> int:
    from edge.check import check

    return 0 if check(args.config, broker_timeout=args.broker_timeout) else 1


def _register_edge(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "edge", "the edge service: cameras -> people counting -> events -> MQTT")
    run = add_command(group, "run", "run the edge service (JSON logs on stdout; SIGTERM stops, SIGHUP reloads "
                      "lines/zones)", _edge_run)
    run.add_argument("--config", type=Path, required=True, help="edge YAML config (see edge/examples/edge.yaml)")
    check = add_command(group, "check", "validate the config, open the cameras, load the model, reach the broker",
                        _edge_check)
    check.add_argument("--config", type=Path, required=True, help="edge YAML config")
    check.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_edge,)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
