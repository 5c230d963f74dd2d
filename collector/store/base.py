"""The collector's store: one implementation over a DB-API connection; SQLite and PostgreSQL fill in the dialect.

:class:`Store` is composed of one module per job:

* :mod:`collector.store.database`: connections (one per thread), portable SQL, transactions, migrations;
* :mod:`collector.store.writes`: :meth:`Store.write_batch` (events deduplicated by id, roll-ups, dead letters,
  device statuses, receipts, in ONE transaction, so an acknowledged message is always fully stored),
  :meth:`Store.import_sales`, :meth:`Store.prune`; the receipt rows in :mod:`collector.store.receipts`;
* :mod:`collector.store.reads`: the read queries other modules use (the API, the forecaster, the recommender);
* :mod:`collector.store.tokens`: API tokens (hashes, scopes, revocation).

Times are epoch seconds (UTC).
"""

from __future__ import annotations

from collector.store.reads import Reads
from collector.store.receipts import Receipt
from collector.store.tokens import Tokens
from collector.store.writes import BatchResult, Writes

__all__ = ["BatchResult", "Receipt", "Store"]


class Store(Writes, Reads, Tokens):
    """Backend-neutral store. Subclasses set ``autoid``/``blob``/``placeholder`` and implement connect/transaction."""
