"""The store's plumbing: one DB-API connection per thread, portable SQL, transactions and schema migrations.

Backends (:mod:`collector.store.sqlite`, :mod:`collector.store.postgres`) fill in the dialect words
(``autoid``, ``blob``, the parameter ``placeholder``) and the connect/transaction hooks; the write path
(:mod:`collector.store.writes`) and the read queries (:mod:`collector.store.reads`) build on this class.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from collector.store.schema import MIGRATIONS


class Database(ABC):
    """Connections, SQL in the backend's style, transactions and migrations; no table-specific logic."""

    dialect: ClassVar[str]  # the key of this backend's statements in a per-backend migration (schema.Migration)
    autoid: ClassVar[str]
    blob: ClassVar[str]
    placeholder: ClassVar[str] = "?"
    #: errors worth retrying the same batch for (lost connection, locked database); anything else isolates rows
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    # -- backend hooks -------------------------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new connection for the calling thread."""

    @abstractmethod
    def _transaction(self, conn: Any) -> contextlib.AbstractContextManager[None]:
        """Commit on success, roll back on error."""

    def _migration_lock(self, cur: Any) -> None:  # noqa: B027 - a hook: SQLite's write lock is already enough
        """Serialise concurrent migrations (PostgreSQL: advisory lock; SQLite: the write lock is enough)."""

    # -- connections ---------------------------------------------------------------------------------------
    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def reset(self) -> None:
        """Drop this thread's connection (after a connection error): the next use reconnects."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._connections.remove(conn)
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):  # a connection owned by a finished thread
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- statements ----------------------------------------------------------------------------------------
    def sql(self, text: str) -> str:
        """Portable SQL (``?`` parameters) in this backend's parameter style."""
        return text if self.placeholder == "?" else text.replace("%", "%%").replace("?", self.placeholder)

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction on this thread's connection; yields a cursor."""
        conn = self.conn
        with self._transaction(conn):
            yield conn.cursor()

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(params))
        names = [col[0] for col in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version."""
        with self.write() as cur:
            self._migration_lock(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            current = cur.fetchone()[0] or 0
            for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
                statements = migration[self.dialect] if isinstance(migration, dict) else migration
                for statement in statements:
                    cur.execute(statement.format(autoid=self.autoid, blob=self.blob))
                cur.execute(self.sql("INSERT INTO schema_version (version) VALUES (?)"), (version,))
            self._after_migrate(cur)
        return len(MIGRATIONS)

    def _after_migrate(self, cur: Any) -> None:  # noqa: B027 - a hook: only PostgreSQL has partitions to create
        """Run in the migration's transaction, under its lock (PostgreSQL: create the partitions ahead)."""
