"""The ``smartstore`` command: one parser, with subcommands registered by each package's ``cli`` module.

Each package (``edge``, ``hardware``, ``collector``, ``export``) exposes ``register(subparsers)`` in its
``cli`` module. Handlers take the parsed namespace and return an exit code. Heavy imports (OpenVINO,
torch, ...) happen inside handlers, so ``smartstore --help`` stays fast and light.

Every mistake the user can fix raises a subclass of :class:`errors.SmartstoreError` (library errors such as
``ModelError`` or ``ConfigError`` derive from it; CLI modules raise :class:`UserError` for bad arguments); ``main``
catches that one root, prints it as one line and exits with status 2. Library modules import ``errors``, never this
module.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from errors import SmartstoreError

#: ``tools.cli`` (bench, bench-collector, demo) is there in a checkout only; a module whose package is absent is skipped
CLI_MODULES = ("edge.cli", "hardware.cli", "collector.cli", "export.cli", "tools.cli")


Subparsers = Any  # argparse._SubParsersAction, which is private
Handler = Callable[[argparse.Namespace], int]


class UserError(SmartstoreError):
    """A bad command-line argument (raised by CLI modules): reported as one line, exit 2 like every
    :class:`SmartstoreError`."""


def add_command(subparsers: Subparsers, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
    """A subcommand whose ``handler(args) -> exit code`` is stored on the namespace."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def command_group(subparsers: Subparsers, name: str, help_text: str) -> Subparsers:
    """A command with its own subcommands (``smartstore models list``), shared by every package that adds to it."""
    existing = subparsers.choices.get(name)
    if existing is None:
        existing = subparsers.add_parser(name, help=help_text, description=help_text)
        existing.set_defaults(handler=None, _group_parser=existing)
        existing._smartstore_subparsers = existing.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
    return existing._smartstore_subparsers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartstore",
        description="Edge smart-store runtime: people counting, shelf analytics, MQTT events, collector.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise  # a missing dependency inside a present module is a bug to show, not a command to hide
            continue
        module.register(subparsers)
    return parser


def _configure_offline_environment() -> None:
    """No run-time downloads, no telemetry: the defaults every subcommand runs under."""
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")  # honoured by openvino-telemetry
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: Sequence[str] | None = None) -> int:
    _configure_offline_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        getattr(args, "_group_parser", parser).print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except SmartstoreError as exc:
        print(f"smartstore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run as ``python -m smartstore`` this file is ``__main__``; CLI modules raise ``smartstore.UserError`` from the
    # importable module, so hand over to that module's ``main`` (one set of classes, caught as they should be).
    import smartstore

    sys.exit(smartstore.main())
