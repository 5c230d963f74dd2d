"""SQLite backend: one file in WAL mode.

``synchronous=FULL`` by default, so a committed (and so acknowledged) batch survives a crash or power cut
(``normal``: survives a crash of the process, not of the machine). Writers take the lock up front
(``BEGIN IMMEDIATE``) so read-then-write is race free."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector.store.base import Store


class SQLiteStore(Store):
    dialect = "sqlite"
    autoid = "INTEGER PRIMARY KEY AUTOINCREMENT"
    blob = "BLOB"
    transient_errors = (sqlite3.OperationalError,)

    def __init__(self, path: str | Path, synchronous: str = "full") -> None:
        super().__init__()
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be full or normal, not {synchronous!r}")
        self.synchronous = synchronous
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: the id index of a busy day stays in memory
        return conn

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
