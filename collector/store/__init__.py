"""The collector's storage: :func:`open_store` gives a migrated :class:`Store` for a SQLite path or PostgreSQL URL."""

from __future__ import annotations

from collector.store.base import BatchResult, Receipt, Store

__all__ = ["BatchResult", "Receipt", "Store", "open_store"]


def open_store(url: str, schema: str | None = None, migrate: bool = True, synchronous: str = "full") -> Store:
    """``postgresql://...`` (or ``postgres://``) opens PostgreSQL, anything else is a SQLite file path
    (``sqlite:///path`` also accepted). ``schema`` places PostgreSQL tables in their own schema; ``synchronous``
    is SQLite's durability level (``full`` or ``normal``)."""
    store: Store
    if url.startswith(("postgresql://", "postgres://")):
        from collector.store.postgres import PostgresStore

        store = PostgresStore(url, schema)
    else:
        from collector.store.sqlite import SQLiteStore

        store = SQLiteStore(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url, synchronous)
    if migrate:
        store.migrate()
    return store
