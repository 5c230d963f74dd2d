"""Durable outbox: events wait in SQLite (WAL) until the broker has acknowledged them (PUBACK).

* ``enqueue`` assigns the per-device sequence numbers in the same transaction that stores the events, so
  numbers are never reused after a crash, a ``kill -9`` or a reboot.
* ``pending`` returns the backlog in sequence order; ``ack`` deletes rows after their PUBACK (broker
  acknowledgement), or, end to end, ``settle`` deletes rows up to the collector's receipt (``mark_sent`` records
  what the broker has acknowledged, so ``stats`` can report the unreceipted depth).
* Each outbox file has a random ``outbox_id``: the sequence numbers belong to it, and a receipt for another
  outbox (an older file on the same device) is ignored.
* Disk use is bounded: when the database would exceed ``cap_bytes``, the oldest low-priority rows
  (``LOW_PRIORITY_KINDS``, e.g. health) go first, then the oldest of the rest; every drop is counted
  per kind in the ``dropped`` table (and reported in health events).

One connection guarded by a lock serves the pipeline thread (enqueue) and the publisher thread (pending/ack).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from contract.events import Event
from contract.topics import TOPIC_PREFIX

#: Outbox priority: under the disk cap the oldest low-priority events are dropped first.
LOW_PRIORITY, NORMAL_PRIORITY = 0, 1
LOW_PRIORITY_KINDS = frozenset({"device.health", "zone.occupancy", "shelf.snapshot", "model.shadow"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_priority ON outbox (priority, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dropped (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def priority(kind: str) -> int:
    return LOW_PRIORITY if kind in LOW_PRIORITY_KINDS else NORMAL_PRIORITY


#: Bytes of SQLite bookkeeping per row (record header, index entry, page slack), used to size drops.
_ROW_OVERHEAD = 48
#: The smallest cap that leaves room for the schema pages and the WAL.
MIN_CAP_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    bytes: int
    cap_bytes: int
    dropped: dict[str, int]
    unreceipted: int = 0  # acknowledged by the broker, not yet receipted by the collector
    receipt_seq: int | None = None  # the collector's latest receipt (None: none seen)

    def as_dict(self) -> dict[str, object]:
        return {"pending": self.pending, "bytes": self.bytes, "cap_bytes": self.cap_bytes, "dropped": self.dropped,
                "unreceipted": self.unreceipted, "receipt_seq": self.receipt_seq}


class Outbox:
    """A SQLite outbox at ``path`` holding at most about ``cap_bytes`` on disk (database plus WAL)."""

    def __init__(self, path: Path | str, cap_bytes: int = 256 * 2**20, topic_prefix: str = TOPIC_PREFIX,
                 synchronous: str = "NORMAL") -> None:
        if cap_bytes < MIN_CAP_BYTES:
            raise ValueError(f"outbox cap_bytes={cap_bytes} is below the minimum {MIN_CAP_BYTES}")
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"outbox synchronous={synchronous!r} must be NORMAL or FULL")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cap_bytes = cap_bytes
        self.topic_prefix = topic_prefix
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        # Keep the WAL (which only shrinks on checkpoints) to a tenth of the cap.
        wal_pages = max(16, cap_bytes // 10 // self._page_size)
        self._db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
        self._db.execute(f"PRAGMA journal_size_limit={wal_pages * self._page_size}")
        self._db.executescript(_SCHEMA)
        # The database file may use the cap less the WAL allowance (autocheckpoint size plus one transaction).
        self._db_budget = cap_bytes - 2 * wal_pages * self._page_size
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload) + LENGTH(topic)), 0) FROM outbox")
        self._count, payload_bytes = row.fetchone()
        self._bytes = payload_bytes + self._count * _ROW_OVERHEAD
        self._last_seq = self._load_last_seq()
        self.dropped_total = int(self._db.execute("SELECT COALESCE(SUM(count), 0) FROM dropped").fetchone()[0])
        self.outbox_id = self._info("outbox_id") or self._set_info("outbox_id", uuid.uuid4().hex)
        self._sent_high = -1  # highest seq the broker acknowledged while waiting for receipts
        self._receipt: int | None = None

    def _info(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_info(self, key: str, value: str) -> str:
        self._db.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, value))
        return value

    def get_flag(self, key: str) -> bool:
        with self._lock:
            return self._info(key) == "1"

    def set_flag(self, key: str, value: bool = True) -> None:
        with self._lock:
            self._set_info(key, "1" if value else "0")

    def _load_last_seq(self) -> int:
        stored = self._db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        newest = self._db.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
        return max(stored[0] if stored else -1, newest if newest is not None else -1)

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event ever enqueued (-1 before the first)."""
        return self._last_seq

    def enqueue(self, events: Iterable[Event]) -> list[Event]:
        """Store events atomically, giving each the next sequence number; returns them with their ``seq``."""
        with self._lock:
            stored: list[Event] = []
            rows = []
            seq = self._last_seq
            for event in events:
                seq += 1
                event = replace(event, seq=seq)
                stored.append(event)
                payload = event.to_json()
                rows.append((seq, event.id, event.kind, priority(event.kind), event.topic(self.topic_prefix), payload))
            if not rows:
                return stored
            added = sum(len(r[4]) + len(r[5]) + _ROW_OVERHEAD for r in rows)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (seq,))
                self._count += len(rows)
                self._bytes += added
                self._enforce_cap()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._recount()
                raise
            self._last_seq = seq
            return stored

    def _recount(self) -> None:
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload) + LENGTH(topic)), 0) FROM outbox")
        self._count, payload_bytes = row.fetchone()
        self._bytes = payload_bytes + self._count * _ROW_OVERHEAD

    def _enforce_cap(self) -> None:
        """Inside the enqueue transaction: keep the database file under its budget by dropping old rows.

        The file never shrinks (free pages are reused), so rows are dropped once the pages in use pass
        80 % of the budget, down to 60 %, leaving room for the next batches before the file has to grow.
        Rows are sized on disk with the measured ratio of stored bytes to pages in use (B-tree slack).
        """
        page_count = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        used = (page_count - free) * self._page_size
        if used <= 0.8 * self._db_budget or self._bytes <= 0:
            return
        excess = int((used - 0.6 * self._db_budget) * self._bytes / used)
        for prio_clause in ("priority = 0", "priority = 1"):
            if excess <= 0:
                break
            victims = []
            freed = 0
            query = f"SELECT seq, kind, LENGTH(payload) + LENGTH(topic) FROM outbox WHERE {prio_clause} ORDER BY seq"
            for seq, kind, size in self._db.execute(query):
                victims.append((seq, kind))
                freed += size + _ROW_OVERHEAD
                if freed >= excess:
                    break
            if not victims:
                continue
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s, _ in victims])
            counts: dict[str, int] = {}
            for _, kind in victims:
                counts[kind] = counts.get(kind, 0) + 1
            self._db.executemany(
                "INSERT INTO dropped VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET count = count + excluded.count",
                list(counts.items()))
            self._count -= len(victims)
            self._bytes -= freed
            self.dropped_total += len(victims)
            excess -= freed

    def pending(self, after: int = -1, limit: int = 500) -> list[Pending]:
        """Up to ``limit`` stored events with ``seq > after``, oldest first."""
        with self._lock:
            cur = self._db.execute("SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                   (after, limit))
            return [Pending(seq, topic, bytes(payload)) for seq, topic, payload in cur]

    def ack(self, seqs: Sequence[int]) -> None:
        """Delete events the broker acknowledged."""
        if not seqs:
            return
        keys = json.dumps(list(seqs))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            deleted, freed = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload) + LENGTH(topic)), 0) FROM outbox "
                "WHERE seq IN (SELECT value FROM json_each(?))", (keys,)).fetchone()
            self._db.execute("DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))", (keys,))
            self._db.execute("COMMIT")
            self._count -= deleted
            self._bytes -= freed + deleted * _ROW_OVERHEAD

    def floor(self) -> int:
        """The lowest seq still held (``last_seq + 1`` when empty): everything below is receipted or dropped."""
        with self._lock:
            low = self._db.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
            return int(low) if low is not None else self._last_seq + 1

    def mark_sent(self, seqs: Sequence[int]) -> None:
        """The broker acknowledged ``seqs``; the rows stay until the collector's receipt covers them."""
        if seqs:
            self._sent_high = max(self._sent_high, max(seqs))

    def settle(self, upto: int) -> int:
        """Delete every row with ``seq <= upto`` (the collector has stored them); returns how many."""
        with self._lock:
            self._receipt = upto if self._receipt is None else max(self._receipt, upto)
            self._db.execute("BEGIN IMMEDIATE")
            deleted, freed = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload) + LENGTH(topic)), 0) FROM outbox WHERE seq <= ?",
                (upto,)).fetchone()
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (upto,))
            self._db.execute("COMMIT")
            self._count -= deleted
            self._bytes -= freed + deleted * _ROW_OVERHEAD
            return int(deleted)

    def stats(self) -> OutboxStats:
        with self._lock:
            dropped = dict(self._db.execute("SELECT kind, count FROM dropped ORDER BY kind").fetchall())
            unreceipted = int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE seq <= ?",
                                               (self._sent_high,)).fetchone()[0]) if self._sent_high >= 0 else 0
            return OutboxStats(self._count, self._bytes, self.cap_bytes, dropped, unreceipted, self._receipt)

    def __len__(self) -> int:
        return self._count

    def disk_bytes(self) -> int:
        """Bytes the database, its WAL and shared-memory index take on disk now."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it (done on shutdown and when the backlog empties)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
