"""The label pushes (``label_pushes``): one row per approved price for a shelf label, ``pending`` until it is
published, ``sent`` until the device replies, then ``applied`` or ``failed`` (with the reason; also when it expired
unacknowledged or a newer price of the same SKU replaced it first).

A push gets its ``set_prices`` command id once (:meth:`PushQueue.issue`, several labels of one gateway in one
command) and keeps it: every re-send rebuilds the same command, same id, time and expiry, from the rows, so the
edge (which remembers the ids it applied) applies it once whatever the broker did.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from collector.pricing.book import PriceBook
from common.retry import jittered
from contract.commands import Command, LabelPrice, Reply, label_results, set_prices_command

PUSH_COLUMNS = ("price_id, store, sku, label, device, command_id, state, attempts, created, issued, expires, "
                "next_send, sent, acked, reason")


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class PushQueue:
    """Label pushes over the price book's store."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self.db = book.db

    def enqueue(self, cur: Any, price_id: str, device: str, expires_s: float, now: float) -> None:
        """Queue the push of an approved price (in its transaction: ``cur``); an open push of the same SKU is
        superseded (failed) so an older price never lands after a newer one."""
        sql = self.db.sql
        cur.execute(sql("SELECT p.store, p.sku, l.label FROM prices p JOIN price_list l ON l.store = p.store AND "
                        "l.sku = p.sku WHERE p.id = ?"), (price_id,))
        store, sku, label = cur.fetchone()
        cur.execute(sql("SELECT price_id FROM label_pushes WHERE store = ? AND sku = ? AND state IN ('pending', "
                        "'sent')"), (store, sku))
        for (old,) in cur.fetchall():
            reason = f"superseded by price {price_id} before the device applied it"
            cur.execute(sql("UPDATE label_pushes SET state = 'failed', reason = ?, acked = ? WHERE price_id = ?"),
                        (reason, now, old))
            self.book.write_audit(cur, old, store, sku, now, "push_failed", "pricing", [], reason)
        cur.execute(sql(f"INSERT INTO label_pushes ({PUSH_COLUMNS}) VALUES ({', '.join('?' * 15)})"),
                    (price_id, store, sku, label, device, None, "pending", 0, now, None, now + expires_s, now, None,
                     None, None))

    def issue(self, max_labels: int, now: float) -> list[str]:
        """Give the pushes without a command one (per store and device, ``max_labels`` at most); the new ids."""
        rows = self.db.rows("SELECT price_id, store, device FROM label_pushes WHERE state = 'pending' AND "
                            "command_id IS NULL ORDER BY created, price_id")
        groups: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            groups.setdefault((r["store"], r["device"]), []).append(r["price_id"])
        issued = []
        with self.db.write() as cur:
            for ids in groups.values():
                for start in range(0, len(ids), max_labels):
                    command_id = uuid.uuid4().hex
                    for price_id in ids[start:start + max_labels]:
                        cur.execute(self.db.sql("UPDATE label_pushes SET command_id = ?, issued = ? WHERE price_id = ?"
                                                " AND command_id IS NULL"), (command_id, now, price_id))
                    issued.append(command_id)
        return issued

    def due(self, now: float) -> list[str]:
        """Command ids with an open push whose next send is due, oldest first."""
        rows = self.db.rows("SELECT command_id, MIN(issued) AS issued FROM label_pushes WHERE state IN ('pending', "
                            "'sent') AND command_id IS NOT NULL AND next_send <= ? GROUP BY command_id "
                            "ORDER BY MIN(issued)", (now,))
        return [r["command_id"] for r in rows]

    def command(self, command_id: str) -> Command:
        """The ``set_prices`` command of ``command_id``, the same at every re-send."""
        rows = self.db.rows("SELECT q.price_id, q.store, q.sku, q.label, q.device, q.issued, q.expires, p.price, "
                            "p.currency, p.was, p.promo FROM label_pushes q JOIN prices p ON p.id = q.price_id "
                            "WHERE q.command_id = ? ORDER BY q.price_id", (command_id,))
        labels = [LabelPrice(r["price_id"], r["sku"], r["label"], float(r["price"]), r["currency"],
                             None if r["was"] is None else float(r["was"]), r["promo"]) for r in rows]
        first = rows[0]
        return set_prices_command(first["store"], first["device"], labels, id=command_id,
                                  ts=_utc(first["issued"]), expires=_utc(min(r["expires"] for r in rows)))

    def attempted(self, command_id: str, published: bool, retry_min_s: float, retry_max_s: float,
                  now: float) -> None:
        """One send of ``command_id`` (``published``: the broker has it); the next re-send after the backoff."""
        rows = self.db.rows("SELECT MAX(attempts) AS n FROM label_pushes WHERE command_id = ?", (command_id,))
        attempts = int(rows[0]["n"] or 0)
        next_send = now + jittered(retry_min_s, attempts, retry_max_s)
        state = ", state = 'sent', sent = ?" if published else ""
        params = (attempts + 1, next_send, *((now,) if published else ()), command_id)
        with self.db.write() as cur:
            cur.execute(self.db.sql(f"UPDATE label_pushes SET attempts = ?, next_send = ?{state} WHERE command_id = ? "
                                    "AND state IN ('pending', 'sent')"), params)

    def expire(self, now: float) -> int:
        """Fail the open pushes past their expiry (the device refuses an expired command anyway)."""
        rows = self.db.rows("SELECT price_id, store, sku, attempts FROM label_pushes WHERE state IN ('pending', "
                            "'sent') AND expires <= ?", (now,))
        with self.db.write() as cur:
            for r in rows:
                reason = f"expired unacknowledged after {r['attempts']} send(s)"
                cur.execute(self.db.sql("UPDATE label_pushes SET state = 'failed', reason = ?, acked = ? WHERE "
                                        "price_id = ? AND state IN ('pending', 'sent')"), (reason, now, r["price_id"]))
                self.book.write_audit(cur, r["price_id"], r["store"], r["sku"], now, "push_failed", "pricing", [],
                                      reason)
        return len(rows)

    def record_reply(self, reply: Reply, now: float | None = None) -> int:
        """A device's reply to a ``set_prices`` command: ``applied``/``failed`` per price (the reply's
        ``detail.labels``; a command that failed without them fails all its prices). Pushes already final stay
        as they are (a duplicate reply changes nothing); returns how many pushes it settled."""
        if reply.state == "accepted" or reply.command != "set_prices":
            return 0
        now = time.time() if now is None else now
        rows = self.db.rows("SELECT price_id, store, sku, device FROM label_pushes WHERE command_id = ? AND state IN "
                            "('pending', 'sent')", (reply.id,))
        results = {r.price_id: r for r in label_results(reply)}
        settled = 0
        with self.db.write() as cur:
            for r in rows:
                if (r["store"], r["device"]) != (reply.store, reply.device):
                    continue  # a reply from another device for this id: not ours to settle
                result = results.get(r["price_id"])
                reason: str | None
                if result is not None:
                    state, reason = result.state, result.reason
                elif reply.state == "failed":  # refused before it ran (expired, malformed, no labels section)
                    state, reason = "failed", reply.reason or "failed"
                else:
                    state, reason = "failed", "the device's reply does not name this price"
                cur.execute(self.db.sql("UPDATE label_pushes SET state = ?, reason = ?, acked = ? WHERE price_id = ? "
                                        "AND state IN ('pending', 'sent')"), (state, reason, now, r["price_id"]))
                settled += cur.rowcount
                self.book.write_audit(cur, r["price_id"], r["store"], r["sku"], now, f"push_{state}",
                                      f"{reply.store}/{reply.device}", [], reason or f"on the label ({reply.id})")
        return settled

    def pushes(self, store: str, sku: str | None = None) -> list[dict[str, Any]]:
        """The pushes of a store (or one SKU), oldest first."""
        where, params = ("store = ? AND sku = ?", (store, sku)) if sku else ("store = ?", (store,))
        return self.db.rows(f"SELECT {PUSH_COLUMNS} FROM label_pushes WHERE {where} ORDER BY created", params)
