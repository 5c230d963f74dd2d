"""PostgreSQL backend (psycopg 3) by URL, optionally inside its own schema (``search_path``).

Events are partitioned by day of ``stored`` (:mod:`collector.store.partitions`): partitions are created ahead at
start, on every retention run and whenever a batch nears the last one; retention drops whole partitions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from collector.store import partitions
from collector.store.base import Store

MIGRATION_LOCK = 0x5353_0001  # pg_advisory_xact_lock key: one replica migrates at a time
ARRAY_TYPES = {  # column types for the unnest() bulk insert, in EVENT_COLUMNS / SALE_COLUMNS order
    "events": ("text", "text", "text", "text", "text", "bigint", "float8", "float8", "text"),
    "sales": ("text", "text", "text", "float8", "float8", "text", "float8", "text"),
}


class PostgresStore(Store):
    dialect = "postgres"
    autoid = "BIGSERIAL PRIMARY KEY"
    blob = "BYTEA"
    placeholder = "%s"
    transient_errors = (psycopg.OperationalError,)
    lock_rows = " FOR UPDATE"

    def __init__(self, url: str, schema: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.schema = schema
        self._covered_until = -math.inf  # events may be stored up to here without creating partitions

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True)
        if self.schema:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        try:
            with conn.transaction():
                yield
        except BaseException:
            self._covered_until = -math.inf  # partitions it created are gone with it
            raise

    def _insert_returning(self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> set:
        """One ``INSERT ... SELECT FROM unnest(arrays)``: a handful of parameters however large the batch.

        Events: the ids go into ``event_ids`` first (insert-or-ignore by its primary key), and only the rows whose
        id was new into the partitioned ``events``, in the same statement."""
        arrays = ", ".join(f"%b::{kind}[]" for kind in ARRAY_TYPES[table])
        names = ",".join(columns)
        params = [list(column) for column in zip(*rows, strict=True)]
        if table != "events":
            cur.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "
                        "ON CONFLICT (id) DO NOTHING RETURNING id", params)
            return {row[0] for row in cur.fetchall()}
        self._cover(cur, max(params[columns.index("stored")]))
        cur.execute(f"WITH t ({names}) AS (SELECT * FROM unnest({arrays})), "
                    "new AS (INSERT INTO event_ids (id, stored) SELECT id, stored FROM t "
                    "ON CONFLICT (id) DO NOTHING RETURNING id) "
                    f"INSERT INTO events ({names}) SELECT t.* FROM t JOIN new USING (id) RETURNING id", params)
        return {row[0] for row in cur.fetchall()}

    def _cover(self, cur: Any, stored: float) -> None:
        """Make sure a partition exists for ``stored`` and the days after it (under the migration lock)."""
        if stored < self._covered_until - partitions.DAY:
            return
        self._migration_lock(cur)
        self._covered_until = partitions.ensure(cur, stored, stored + partitions.AHEAD_DAYS * partitions.DAY)

    def _after_migrate(self, cur: Any) -> None:
        self._cover(cur, time.time())

    def ensure_partitions(self, start: float, end: float) -> None:
        """Create the day partitions for rows stored in ``[start, end)`` (bulk loads of history)."""
        with self.write() as cur:
            self._migration_lock(cur)
            partitions.ensure(cur, start, end)

    def prune(self, events_days: float, dead_letters_days: float, rollups_days: float,
              now: float | None = None) -> dict[str, int]:
        """Retention: drop the day partitions past ``events_days`` whole, then delete what remains older than the
        limits row by row (the boundary day, dead letters, roll-ups) and the ids of the events gone."""
        now = time.time() if now is None else now
        cutoff = now - events_days * partitions.DAY
        with self.write() as cur:
            self._migration_lock(cur)
            dropped = partitions.drop_before(cur, cutoff)
            self._covered_until = partitions.ensure(cur, now, now + partitions.AHEAD_DAYS * partitions.DAY)
        deleted = super().prune(events_days, dead_letters_days, rollups_days, now)
        with self.write() as cur:
            cur.execute("DELETE FROM event_ids WHERE stored < %s", (cutoff,))
            deleted["event_ids"] = max(cur.rowcount, 0)
        return {**deleted, "events": deleted["events"] + dropped}

    def _migration_lock(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests and benchmarks clean up with this)."""
        if not self.schema:
            raise ValueError("drop_schema needs a dedicated schema")
        self.conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"
