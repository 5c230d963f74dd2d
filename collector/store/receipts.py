"""End-to-end receipts, inside the write transaction: per device, the highest seq up to which every event is stored.

An edge with receipts tags its events with its outbox id and floor (MQTT 5 user properties, see
``collector.ingest``); after each batch :meth:`ReceiptWrites._advance_receipts` moves the devices' receipt rows
forward. Seqs stored out of order wait in ``receipt_pending`` until the hole below them is filled.

The work is set-based: a batch costs the same handful of statements however many devices it carries (one
insert of new devices, one locked read of all their rows, one read of their waiting seqs, then bulk deletes,
inserts and updates), not a few per device; a 1,000-device fleet on a shared subscription puts hundreds of
devices into every batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from collector.store.database import Database
from collector.validation import Accepted

Key = tuple[str, str]  # (store, device)
T = TypeVar("T")


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
    seqs: list[int] = field(default_factory=list)


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start: start + size]


class ReceiptWrites(Database):
    """Advances the ``receipts`` rows of a batch's devices (called by the write path in its transaction)."""

    #: appended to the receipt rows' SELECT so concurrent replicas advance one device's receipt one at a time
    lock_rows: ClassVar[str] = ""
    #: devices per statement in the row-value lists (up to four parameters each: well inside SQLite's
    #: 32,766 and PostgreSQL's 65,535)
    keys_per_statement: ClassVar[int] = 1_000

    def _advance_receipts(self, cur: Any, events: list[Accepted], now: float) -> list[Receipt]:
        """Per device (and edge outbox) in the batch: the highest seq up to which every event is stored.

        Seqs below the edge's floor are settled (stored or dropped by the edge); seqs stored out of order wait
        in ``receipt_pending`` until the hole below them is filled. Duplicates count too: they are stored.
        """
        by_device: dict[Key, _DeviceReceipt] = {}
        for e in events:
            if e.outbox is None:
                continue  # an edge without receipts (3.1.1, old version, or receipts: off)
            entry = by_device.get((e.store, e.device))
            if entry is None or entry.outbox != e.outbox:  # the newest outbox of the device wins
                entry = by_device[(e.store, e.device)] = _DeviceReceipt(e.outbox)
            if e.floor is not None:
                entry.floor = e.floor if entry.floor is None else max(entry.floor, e.floor)
            entry.seqs.append(e.seq)
        if not by_device:
            return []
        keys = sorted(by_device)  # one lock order for every replica: no deadlocks between them
        rows = self._locked_rows(cur, keys, now, by_device)
        waiting = self._waiting(cur, [k for k in keys if rows[k][2]])
        receipts: list[Receipt] = []
        resets: list[Key] = []
        settled: list[tuple[str, str, int]] = []
        later: list[tuple[str, str, int]] = []
        updates: list[tuple[str, int, int, float, str, str]] = []
        for key in keys:
            entry, (outbox, seq, pending) = by_device[key], rows[key]
            held = waiting.get(key, set())
            if outbox != entry.outbox:  # a new outbox file on the device: its numbering starts again
                seq, held = -1, set()
                if pending:
                    resets.append(key)
                    pending = 0
            if entry.floor is not None:
                seq = max(seq, entry.floor - 1)
            fresh = {s for s in entry.seqs if s > seq} - held
            have = held | fresh
            while seq + 1 in have:
                seq += 1
            gone = sum(1 for s in held if s <= seq)
            if gone:
                settled.append((*key, seq))
            ahead = sorted(s for s in fresh if s > seq)
            later.extend((*key, s) for s in ahead)
            pending = len(held) - gone + len(ahead)  # the rows left: exact, whatever the counter said
            updates.append((entry.outbox, seq, pending, now, *key))
            receipts.append(Receipt(key[0], key[1], entry.outbox, seq))
        sql = self.sql
        if resets:
            cur.executemany(sql("DELETE FROM receipt_pending WHERE store = ? AND device = ?"), resets)
        if settled:
            cur.executemany(sql("DELETE FROM receipt_pending WHERE store = ? AND device = ? AND seq <= ?"), settled)
        if later:
            cur.executemany(sql("INSERT INTO receipt_pending (store, device, seq) VALUES (?, ?, ?) "
                                "ON CONFLICT (store, device, seq) DO NOTHING"), later)
        for chunk in _chunks(updates, self.keys_per_statement):
            values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
            cur.execute(sql(f"UPDATE receipts SET outbox = v.column1, seq = v.column2, pending = v.column3, "
                            f"ts = v.column4 FROM (VALUES {values}) AS v "
                            "WHERE receipts.store = v.column5 AND receipts.device = v.column6"),
                        [part for row in chunk for part in row])
        return receipts

    def _locked_rows(self, cur: Any, keys: list[Key], now: float,
                     by_device: dict[Key, _DeviceReceipt]) -> dict[Key, tuple[str, int, int]]:
        """``(outbox, seq, pending)`` of every device in ``keys``, rows created for new ones, locked in key order."""
        sql = self.sql
        for chunk in _chunks(keys, self.keys_per_statement):
            values = ", ".join(["(?, ?, ?, -1, 0, ?)"] * len(chunk))
            cur.execute(sql(f"INSERT INTO receipts (store, device, outbox, seq, pending, ts) VALUES {values} "
                            "ON CONFLICT (store, device) DO NOTHING"),
                        [part for k in chunk for part in (*k, by_device[k].outbox, now)])
        rows: dict[Key, tuple[str, int, int]] = {}
        for chunk in _chunks(keys, self.keys_per_statement):
            values = ", ".join(["(?, ?)"] * len(chunk))
            cur.execute(sql(f"SELECT store, device, outbox, seq, pending FROM receipts WHERE (store, device) IN "
                            f"(VALUES {values}) ORDER BY store, device{self.lock_rows}"),
                        [part for k in chunk for part in k])
            rows.update({(r[0], r[1]): (r[2], int(r[3]), int(r[4])) for r in cur.fetchall()})
        return rows

    def _waiting(self, cur: Any, keys: list[Key]) -> dict[Key, set[int]]:
        """Every seq waiting in ``receipt_pending`` for the devices in ``keys``."""
        waiting: dict[Key, set[int]] = {}
        for chunk in _chunks(keys, self.keys_per_statement):
            values = ", ".join(["(?, ?)"] * len(chunk))
            cur.execute(self.sql(f"SELECT store, device, seq FROM receipt_pending WHERE (store, device) IN "
                                 f"(VALUES {values})"), [part for k in chunk for part in k])
            for store, device, seq in cur.fetchall():
                waiting.setdefault((store, device), set()).add(int(seq))
        return waiting
