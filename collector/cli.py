"""``smartstore`` subcommands of the ``collector`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable

from smartstore import Subparsers

REGISTRARS: tuple[Callable[[Subparsers], None], ...] = ()


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
