"""End-to-end receipts, inside the write transaction: per device, the highest seq up to which every event is stored.

An edge with receipts tags its events with its outbox id and floor (MQTT 5 user properties, see
``collector.ingest``); after each batch :meth:`ReceiptWrites._advance_receipts` moves the device's receipt row
forward. Seqs stored out of order wait in ``receipt_pending`` until the hole below them is filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from collector.store.database import Database
from collector.validation import Accepted


@dataclass(frozen=True, slots=True)
class Receipt:
    """Every event of ``device``'s outbox ``outbox`` with ``seq <=`` this one is stored."""

    store: str
    device: str
    outbox: str
    seq: int


@dataclass(slots=True)
class _DeviceReceipt:
    outbox: str
    floor: int | None = None
    seqs: list[int] | None = None


class ReceiptWrites(Database):
    """Advances the ``receipts`` rows of a batch's devices (called by the write path in its transaction)."""

    #: appended to the receipt row's SELECT so concurrent replicas advance one device's receipt one at a time
    lock_rows: ClassVar[str] = ""
    #: most out-of-order seqs read back per device and batch when advancing a receipt
    pending_scan: ClassVar[int] = 200_000

    def _advance_receipts(self, cur: Any, events: list[Accepted], now: float) -> list[Receipt]:
        """Per device (and edge outbox) in the batch: the highest seq up to which every event is stored.

        Seqs below the edge's floor are settled (stored or dropped by the edge); seqs stored out of order wait
        in ``receipt_pending`` until the hole below them is filled. Duplicates count too: they are stored.
        """
        by_device: dict[tuple[str, str], _DeviceReceipt] = {}
        for e in events:
            if e.outbox is None:
                continue  # an edge without receipts (3.1.1, old version, or receipts: off)
            entry = by_device.get((e.store, e.device))
            if entry is None or entry.outbox != e.outbox:  # the newest outbox of the device wins
                entry = by_device[(e.store, e.device)] = _DeviceReceipt(e.outbox, None, [])
            if e.floor is not None:
                entry.floor = e.floor if entry.floor is None else max(entry.floor, e.floor)
            assert entry.seqs is not None
            entry.seqs.append(e.seq)
        return [self._advance_one(cur, store, device, entry, now)
                for (store, device), entry in sorted(by_device.items())]

    def _advance_one(self, cur: Any, store: str, device: str, entry: _DeviceReceipt, now: float) -> Receipt:
        """In order (the usual case) this is one locked read and one update; holes cost a few statements more."""
        sql, key = self.sql, (store, device)
        select = sql(f"SELECT outbox, seq, pending FROM receipts WHERE store = ? AND device = ?{self.lock_rows}")
        cur.execute(select, key)
        row = cur.fetchone()
        if row is None:
            cur.execute(sql("INSERT INTO receipts (store, device, outbox, seq, pending, ts) VALUES (?, ?, ?, -1, 0, ?) "
                            "ON CONFLICT (store, device) DO NOTHING"), (*key, entry.outbox, now))
            cur.execute(select, key)
            row = cur.fetchone()
        outbox, seq, pending = row[0], int(row[1]), int(row[2])
        if outbox != entry.outbox:  # a new outbox file on the device: its numbering starts again
            seq = -1
            if pending:
                cur.execute(sql("DELETE FROM receipt_pending WHERE store = ? AND device = ?"), key)
                pending = 0
        if entry.floor is not None:
            seq = max(seq, entry.floor - 1)
        waiting: set[int] = set()
        if pending:
            cur.execute(sql(f"SELECT seq FROM receipt_pending WHERE store = ? AND device = ? AND seq > ? "
                            f"ORDER BY seq LIMIT {self.pending_scan}"), (*key, seq))
            waiting = {int(r[0]) for r in cur.fetchall()}
        fresh = {s for s in entry.seqs or () if s > seq} - waiting
        have = waiting | fresh
        while seq + 1 in have:
            seq += 1
        if pending:
            cur.execute(sql("DELETE FROM receipt_pending WHERE store = ? AND device = ? AND seq <= ?"), (*key, seq))
            pending = max(pending - max(cur.rowcount, 0), 0)
        later = sorted(s for s in fresh if s > seq)
        if later:
            cur.executemany(sql("INSERT INTO receipt_pending (store, device, seq) VALUES (?, ?, ?) "
                                "ON CONFLICT (store, device, seq) DO NOTHING"), [(*key, s) for s in later])
            pending += len(later)
        cur.execute(sql("UPDATE receipts SET outbox = ?, seq = ?, pending = ?, ts = ? WHERE store = ? AND device = ?"),
                    (entry.outbox, seq, pending, now, *key))
        return Receipt(store, device, entry.outbox, seq)
