"""PostgreSQL backend (psycopg 3) by URL, optionally inside its own schema (``search_path``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from collector.store.base import Store

MIGRATION_LOCK = 0x5353_0001  # pg_advisory_xact_lock key: one replica migrates at a time
ARRAY_TYPES = {  # column types for the unnest() bulk insert, in EVENT_COLUMNS / SALE_COLUMNS order
    "events": ("text", "text", "text", "text", "text", "bigint", "float8", "float8", "text"),
    "sales": ("text", "text", "text", "float8", "float8", "text", "float8", "text"),
}


class PostgresStore(Store):
    autoid = "BIGSERIAL PRIMARY KEY"
    blob = "BYTEA"
    placeholder = "%s"
    transient_errors = (psycopg.OperationalError,)
    lock_rows = " FOR UPDATE"

    def __init__(self, url: str, schema: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.schema = schema

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True)
        if self.schema:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        with conn.transaction():
            yield

    def _insert_returning(self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> set:
        """One ``INSERT ... SELECT FROM unnest(arrays)``: a handful of parameters however large the batch."""
        arrays = ", ".join(f"%b::{kind}[]" for kind in ARRAY_TYPES[table])
        cur.execute(f"INSERT INTO {table} ({','.join(columns)}) SELECT * FROM unnest({arrays}) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id", [list(column) for column in zip(*rows, strict=True)])
        return {row[0] for row in cur.fetchall()}

    def _migration_lock(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests and benchmarks clean up with this)."""
        if not self.schema:
            raise ValueError("drop_schema needs a dedicated schema")
        self.conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"
