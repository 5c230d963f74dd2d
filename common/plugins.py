"""Plugins registered by a type key and imported on first use (engines, label gateways): ``"module:Class"``
strings, so a plugin whose package is missing costs nothing until it is asked for, and then fails in one line."""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

T = TypeVar("T")


class Plugins(Generic[T]):
    """Known plugins of one ``kind`` (``"engine"``, ``"label gateway"``); unknown or missing ones raise ``error``."""

    def __init__(self, kind: str, error: type[Exception], targets: dict[str, str]) -> None:
        self.kind, self.error, self._targets = kind, error, dict(targets)

    def names(self) -> list[str]:
        return list(self._targets)

    @property
    def targets(self) -> dict[str, str]:
        """A copy of name -> ``"module:Class"``."""
        return dict(self._targets)

    def register(self, name: str, target: str) -> None:
        """Add or replace the plugin ``name`` (``"module:Class"``)."""
        self._targets[name] = target

    def unknown(self, name: str) -> str:
        """The one-line message for a name that is not registered."""
        return f"unknown {self.kind} {name!r} (choose from: {', '.join(self._targets)})"

    def load(self, name: str) -> type[T]:
        """The class registered as ``name``, imported now."""
        if name not in self._targets:
            raise self.error(self.unknown(name))
        module_name, _, attr = self._targets[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise self.error(f"{self.kind} {name!r} is not installed ({exc})") from None
        cls: type[T] = getattr(module, attr)
        return cls
