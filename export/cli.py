"""``smartstore`` subcommands of the ``export`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from smartstore import Subparsers, UserError, add_command, command_group


def _models_build(args: argparse.Namespace) -> int:
    from edge.models import ModelError
    from export.build import BUILDERS, BuildError, build

    if args.all == bool(args.names):
        raise UserError("give model names or --all")
    names = sorted(BUILDERS) if args.all else args.names
    unknown = [name for name in names if name not in BUILDERS]
    if unknown:
        raise UserError(f"no builder for {', '.join(unknown)} (known: {', '.join(sorted(BUILDERS))})")
    for name in names:
        try:
            manifest, built = build(name, force=args.force)
        except (BuildError, ModelError) as exc:
            raise UserError(f"{name}: {exc}") from None
        files = ", ".join(f"{e}/{p}" for e, p in manifest.variants())
        print(f"{name}: {'built' if built else 'up to date'} ({files})", flush=True)
    return 0


def _register_models_build(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "models", "model manifests: list, verify, build")
    build = add_command(group, "build", "build models from their pinned sources (skipped when up to date)",
                        _models_build)
    build.add_argument("names", nargs="*", help="models to build")
    build.add_argument("--all", action="store_true", help="every model with a builder")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_models_build,)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
