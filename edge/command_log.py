"""The ids of the commands a box has finished, with their final reply, kept on disk beside the outbox (bounded),
so that a command replayed or delivered twice (QoS 1, a retained or re-sent request) is applied once: the second
copy gets the first one's reply again."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any


class CommandLog:
    """``<folder>/commands.json``: the newest ``limit`` finished command ids and their replies."""

    def __init__(self, path: Path, limit: int = 1000) -> None:
        self.path = path
        self.limit = limit
        self._lock = threading.Lock()
        self._done: OrderedDict[str, dict[str, Any]] = OrderedDict()
        try:
            loaded = json.loads(path.read_text())
            self._done.update((str(k), v) for k, v in loaded.items() if isinstance(v, dict))
        except (OSError, ValueError, AttributeError):
            pass  # none yet, or unreadable: start empty (versions still stop a second activation)

    def get(self, command_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._done.get(command_id)

    def record(self, command_id: str, reply: dict[str, Any]) -> None:
        """Remember ``command_id``'s final reply (written with os.replace: the file is old or new, never torn)."""
        with self._lock:
            self._done[command_id] = reply
            while len(self._done) > self.limit:
                self._done.popitem(last=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            with tmp.open("w") as out:
                json.dump(self._done, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)

    def __len__(self) -> int:
        return len(self._done)
