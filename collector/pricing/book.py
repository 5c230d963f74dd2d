"""The price book in the collector's store (migration 5): the price list, every price with its state, and the
audit log. Portable SQL over :class:`collector.store.database.Database` (SQLite or PostgreSQL).

A price is ``pending`` (waits for a person), ``approved`` (the newest approved one is the current price),
``rejected`` or ``superseded`` (a newer evaluation replaced it before anyone decided). Every price gets an audit
row when it is proposed, and one for each decision and label push outcome.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from collector.pricing.products import Product
from collector.store.database import Database
from errors import SmartstoreError

PRODUCT_COLUMNS = ("store", "sku", "base", "floor", "currency", "ceiling", "expiry", "name", "label")
PRICE_COLUMNS = "id, store, sku, price, currency, was, promo, state, created, decided, decided_by"
AUDIT_COLUMNS = "id, price_id, store, sku, ts, action, actor, rules, reason"
Also = Callable[[Any, str], None]  # more writes in a price's transaction: (cursor, price_id)


class PricingError(SmartstoreError):
    """A price that does not exist or cannot take this decision (one line naming it)."""


def new_price_id() -> str:
    return uuid.uuid4().hex


class PriceBook:
    """Reads and writes of the pricing tables; every write is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the price list ------------------------------------------------------------------------------------
    def upsert_products(self, products: Sequence[Product]) -> int:
        """Insert or replace price-list rows; returns how many."""
        cols = ", ".join(PRODUCT_COLUMNS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in (*PRODUCT_COLUMNS[2:], "updated"))
        text = self.db.sql(f"INSERT INTO price_list ({cols}, updated) VALUES ({', '.join('?' * 10)}) "
                           f"ON CONFLICT (store, sku) DO UPDATE SET {sets}")
        now = time.time()
        with self.db.write() as cur:
            for p in products:
                cur.execute(text, (*(getattr(p, c) for c in PRODUCT_COLUMNS), now))
        return len(products)

    def products(self, store: str, sku: str | None = None) -> list[Product]:
        where, params = ("store = ? AND sku = ?", (store, sku)) if sku is not None else ("store = ?", (store,))
        rows = self.db.rows(f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM price_list WHERE {where} ORDER BY sku", params)
        return [Product(**r) for r in rows]

    def product(self, store: str, sku: str) -> Product | None:
        found = self.products(store, sku)
        return found[0] if found else None

    # -- prices --------------------------------------------------------------------------------------------
    def price(self, price_id: str) -> dict[str, Any]:
        rows = self.db.rows(f"SELECT {PRICE_COLUMNS} FROM prices WHERE id = ?", (price_id,))
        if not rows:
            raise PricingError(f"no price with id {price_id!r}")
        return rows[0]

    def current(self, store: str) -> dict[str, dict[str, Any]]:
        """The current (newest approved) price of each SKU of ``store`` that has one."""
        rows = self.db.rows(f"SELECT {PRICE_COLUMNS} FROM prices WHERE store = ? AND state = 'approved' "
                            "ORDER BY decided, created", (store,))
        return {r["sku"]: r for r in rows}  # the last per SKU wins

    def pending(self, store: str | None = None) -> list[dict[str, Any]]:
        """Prices waiting for a decision, oldest first (every store when ``store`` is None)."""
        where, params = ("AND store = ?", (store,)) if store else ("", ())
        return self.db.rows(f"SELECT {PRICE_COLUMNS} FROM prices WHERE state = 'pending' {where} ORDER BY created",
                            params)

    def prices(self, store: str, sku: str) -> list[dict[str, Any]]:
        """Every price of one SKU, oldest first."""
        return self.db.rows(f"SELECT {PRICE_COLUMNS} FROM prices WHERE store = ? AND sku = ? ORDER BY created",
                            (store, sku))

    def reference(self, store: str, sku: str, now: float, window: float = 86400.0) -> float | None:
        """The price in effect ``window`` seconds before ``now`` (approved at or before then), else the first
        approved since; None when the SKU has never had an approved price."""
        before = self.db.rows("SELECT price FROM prices WHERE store = ? AND sku = ? AND state = 'approved' AND "
                              "decided <= ? ORDER BY decided DESC LIMIT 1", (store, sku, now - window))
        if before:
            return float(before[0]["price"])
        since = self.db.rows("SELECT price FROM prices WHERE store = ? AND sku = ? AND state = 'approved' "
                             "ORDER BY decided LIMIT 1", (store, sku))
        return float(since[0]["price"]) if since else None

    def add_price(self, store: str, sku: str, price: float, currency: str, was: float | None, promo: str | None,
                  rules: list[dict[str, Any]], reason: str, approved_by: str | None, now: float,
                  also: Also | None = None, why_approved: str = "auto_approve: true",
                  proposer: str = "evaluation") -> str:
        """A new price (``approved_by``: approved at once by that actor; None: pending), superseding any pending
        price of the SKU, with its audit rows; returns its id. ``also(cursor, price_id)`` runs in the same
        transaction (the label push of an approved price)."""
        price_id = new_price_id()
        state = "approved" if approved_by else "pending"
        with self.db.write() as cur:
            cur.execute(self.db.sql("SELECT id FROM prices WHERE store = ? AND sku = ? AND state = 'pending'"),
                        (store, sku))
            for (old,) in cur.fetchall():
                cur.execute(self.db.sql("UPDATE prices SET state = 'superseded', decided = ? WHERE id = ?"), (now, old))
                self.write_audit(cur, old, store, sku, now, "superseded", "evaluation", [], f"replaced by {price_id}")
            cur.execute(self.db.sql(f"INSERT INTO prices ({PRICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                        (price_id, store, sku, price, currency, was, promo, state, now,
                         now if approved_by else None, approved_by))
            self.write_audit(cur, price_id, store, sku, now, "proposed", proposer, rules, reason)
            if approved_by:
                self.write_audit(cur, price_id, store, sku, now, "approved", approved_by, [], why_approved)
                if also is not None:
                    also(cur, price_id)
        return price_id

    def decide(self, price_id: str, approve: bool, actor: str, reason: str, now: float,
               also: Also | None = None) -> dict[str, Any]:
        """Approve or reject a pending price (:class:`PricingError` when it is not pending); the updated row.
        ``also(cursor, price_id)`` runs in the same transaction."""
        row = self.price(price_id)
        if row["state"] != "pending":
            raise PricingError(f"price {price_id} is {row['state']}, not pending")
        state = "approved" if approve else "rejected"
        with self.db.write() as cur:
            cur.execute(self.db.sql("UPDATE prices SET state = ?, decided = ?, decided_by = ? WHERE id = ? AND "
                                    "state = 'pending'"), (state, now, actor, price_id))
            if cur.rowcount != 1:
                raise PricingError(f"price {price_id} was decided meanwhile")
            self.write_audit(cur, price_id, row["store"], row["sku"], now, state, actor, [], reason)
            if also is not None:
                also(cur, price_id)
        return self.price(price_id)

    def supersede(self, price_id: str, reason: str, now: float) -> None:
        """Withdraw a pending price (the rules no longer give it)."""
        with self.db.write() as cur:
            cur.execute(self.db.sql("UPDATE prices SET state = 'superseded', decided = ? WHERE id = ? AND "
                                    "state = 'pending'"), (now, price_id))
            if cur.rowcount:
                row = self.price(price_id)
                self.write_audit(cur, price_id, row["store"], row["sku"], now, "superseded", "evaluation", [], reason)

    # -- the audit log -------------------------------------------------------------------------------------
    def write_audit(self, cur: Any, price_id: str, store: str, sku: str, ts: float, action: str, actor: str,
                    rules: list[dict[str, Any]], reason: str) -> None:
        """One audit row, written with the caller's cursor (inside its transaction)."""
        cur.execute(self.db.sql("INSERT INTO price_audit (price_id, store, sku, ts, action, actor, rules, reason) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                    (price_id, store, sku, ts, action, actor, json.dumps(rules), reason))

    def audit_log(self, store: str, sku: str) -> list[dict[str, Any]]:
        """Every audit row of one SKU, oldest first, ``rules`` decoded."""
        rows = self.db.rows(f"SELECT {AUDIT_COLUMNS} FROM price_audit WHERE store = ? AND sku = ? ORDER BY ts, id",
                            (store, sku))
        return [{**r, "rules": json.loads(r["rules"])} for r in rows]
