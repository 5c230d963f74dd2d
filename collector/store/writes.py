"""The store's write path: one transaction per batch (events, roll-ups, receipts, dead letters, statuses), the
sales import and retention.

:meth:`Writes.write_batch` stores a batch of events (insert-or-ignore by id), their roll-ups, dead letters
and device statuses in ONE transaction, so an acknowledged message is always fully stored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.store.receipts import Receipt, ReceiptWrites
from collector.store.reviews import ReviewWrites
from collector.store.rollup import Rollup, rollup
from collector.validation import SEQ_WINDOW, Accepted, Rejected, Status

EVENT_COLUMNS = ("id", "kind", "store", "device", "camera", "seq", "ts", "stored", "payload")
SALE_COLUMNS = ("id", "store", "sku", "qty", "price", "receipt", "ts", "source")
MAX_PARAMS = 9000


def _capped_detail(rejected: Rejected, cap: int) -> str:
    if len(rejected.payload) <= cap:
        return rejected.detail
    return f"{rejected.detail} (payload cut to its first {cap} of {len(rejected.payload)} bytes)"[:400]


def _pick(table: str, column: str, op: str = ">") -> str:
    """Portable GREATEST/LEAST for an upsert: the new value where it is ``op`` the stored one."""
    return f"CASE WHEN excluded.{column} {op} {table}.{column} THEN excluded.{column} ELSE {table}.{column} END"


#: per roll-up table (the :class:`Rollup` field of its deltas), the upsert that adds a batch's deltas
ROLLUP_UPSERTS: tuple[tuple[str, str], ...] = (
    ("devices",
     "INSERT INTO devices (store, device, seq_min, seq_max, received, last_ts) VALUES (?, ?, ?, ?, ?, ?) "
     "ON CONFLICT (store, device) DO UPDATE SET "
     f"seq_min = {_pick('devices', 'seq_min', '<')}, seq_max = {_pick('devices', 'seq_max')}, "
     f"received = devices.received + excluded.received, last_ts = {_pick('devices', 'last_ts')}"),
    ("footfall",
     "INSERT INTO footfall_hourly (store, camera, line, hour, n_in, n_out) VALUES (?, ?, ?, ?, ?, ?) "
     "ON CONFLICT (store, hour, camera, line) DO UPDATE SET n_in = footfall_hourly.n_in + excluded.n_in, "
     "n_out = footfall_hourly.n_out + excluded.n_out"),
    ("occupancy",
     "INSERT INTO occupancy_hourly (store, camera, zone, hour, samples, total, peak) "
     "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, hour, camera, zone) DO UPDATE SET "
     "samples = occupancy_hourly.samples + excluded.samples, "
     f"total = occupancy_hourly.total + excluded.total, peak = {_pick('occupancy_hourly', 'peak')}"),
    ("live",
     "INSERT INTO occupancy_live (store, camera, zone, n, ts) VALUES (?, ?, ?, ?, ?) "
     "ON CONFLICT (store, camera, zone) DO UPDATE SET n = excluded.n, ts = excluded.ts "
     "WHERE excluded.ts >= occupancy_live.ts"),
    ("dwell",
     "INSERT INTO dwell_hourly (store, camera, zone, hour, visits, dwell_sum, dwell_max) "
     "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, hour, camera, zone) DO UPDATE SET "
     "visits = dwell_hourly.visits + excluded.visits, dwell_sum = dwell_hourly.dwell_sum + excluded.dwell_sum, "
     f"dwell_max = {_pick('dwell_hourly', 'dwell_max')}"),
    ("shadow",
     "INSERT INTO model_shadow (store, device, camera, ts, data) VALUES (?, ?, ?, ?, ?) "
     "ON CONFLICT (store, device, camera) DO UPDATE SET ts = excluded.ts, data = excluded.data "
     "WHERE excluded.ts >= model_shadow.ts"),
)


@dataclass(frozen=True, slots=True)
class BatchResult:
    inserted: int
    duplicates: int
    dead_letters: int
    statuses: int
    receipts: tuple[Receipt, ...] = ()
    rejected: tuple[Rejected, ...] = ()  # events the store itself dead-lettered (sanity limits), for the metrics


class Writes(ReceiptWrites, ReviewWrites):
    """Batches, the sales import and retention; the backends may override :meth:`_insert_returning`."""

    #: sanity limits (``ingest.seq_window``, ``ingest.dead_letter_bytes``): a seq this far beyond the device's
    #: highest is dead-lettered; a dead letter keeps only this many bytes of its payload
    seq_window: int = 1_000_000
    dead_letter_bytes: int = 4096

    def _insert_returning(self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> set:
        """Multi-row insert-or-ignore by primary key ``id``; returns the ids really inserted."""
        inserted: set[str] = set()
        chunk = max(1, MAX_PARAMS // len(columns))
        values = "(" + ",".join("?" * len(columns)) + ")"
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            text = (f"INSERT INTO {table} ({','.join(columns)}) VALUES {','.join([values] * len(part))} "
                    "ON CONFLICT (id) DO NOTHING RETURNING id")
            cur.execute(self.sql(text), [value for row in part for value in row])
            inserted.update(row[0] for row in cur.fetchall())
        return inserted

    def write_batch(self, events: Sequence[Accepted], rejected: Sequence[Rejected] = (),
                    statuses: Sequence[Status] = ()) -> BatchResult:
        """Store a batch in one transaction: events (deduplicated by id), roll-ups, dead letters, statuses.

        Statuses apply in order, the last one received wins (see ``collector.ingest`` for why not by time stamp).
        """
        unique = list({e.id: e for e in events}.values())
        now = time.time()
        with self.write() as cur:
            unique, out_of_window = self._seq_window(cur, unique)
            rows = [(e.id, e.kind, e.store, e.device, e.camera, e.seq, e.ts, now, e.raw) for e in unique]
            new_ids = self._insert_returning(cur, "events", EVENT_COLUMNS, rows) if rows else set()
            self._apply_rollup(cur, rollup(e for e in unique if e.id in new_ids))
            receipts = self._advance_receipts(cur, unique, now)
            dead = [*rejected, *out_of_window]
            if dead:
                cap = self.dead_letter_bytes
                cur.executemany(self.sql(
                    "INSERT INTO dead_letters (received, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)"),
                    [(now, r.topic, r.reason, _capped_detail(r, cap), r.payload[:cap]) for r in dead])
            for s in statuses:
                cur.execute(self.sql(
                    "INSERT INTO device_status (store, device, state, ts, clean) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (store, device) DO UPDATE SET state = excluded.state, ts = excluded.ts, "
                    "clean = excluded.clean"),
                    (s.store, s.device, s.state, s.ts, None if s.clean is None else int(s.clean)))
        return BatchResult(len(new_ids), len(events) - len(out_of_window) - len(new_ids), len(dead), len(statuses),
                           tuple(receipts), tuple(out_of_window))

    def _seq_window(self, cur: Any, events: list[Accepted]) -> tuple[list[Accepted], list[Rejected]]:
        """Split off events whose seq lies beyond the device's highest seq (or its edge's floor) plus the window.

        One event cannot poison the device's gap counter: its seq must be near what the device sent before (a
        device not seen yet starts at 0, or at the floor its edge reports: edges with receipts send it).
        """
        keys = {(e.store, e.device) for e in events}
        highest = dict.fromkeys(keys, 0)
        devices = sorted({device for _, device in keys})
        for start in range(0, len(devices), MAX_PARAMS):
            part = devices[start:start + MAX_PARAMS]
            cur.execute(self.sql(f"SELECT store, device, seq_max FROM devices WHERE device IN "
                                 f"({','.join('?' * len(part))})"), part)
            for store, device, seq_max in cur.fetchall():
                if (store, device) in highest:
                    highest[(store, device)] = int(seq_max)
        kept: list[Accepted] = []
        dropped: list[Rejected] = []
        for e in events:
            known = highest[(e.store, e.device)]
            if e.seq > max(known, e.floor or 0) + self.seq_window:
                floor = "" if e.floor is None else f" (its edge's floor {e.floor})"
                detail = f"seq {e.seq} is beyond the device's highest seq {known}{floor} plus {self.seq_window}"
                dropped.append(Rejected(SEQ_WINDOW, detail, e.topic, e.raw.encode()))
            else:
                highest[(e.store, e.device)] = max(known, e.seq)
                kept.append(e)
        return kept, dropped

    def _apply_rollup(self, cur: Any, r: Rollup) -> None:
        """Add a batch's roll-up deltas: devices, hourly footfall/occupancy/dwell, live occupancy, the latest
        shadow agreement, sales, shelf."""
        for name, upsert in ROLLUP_UPSERTS:
            deltas: dict[tuple[Any, ...], Any] = getattr(r, name)
            if deltas:
                cur.executemany(self.sql(upsert), [(*key, *vals) for key, vals in deltas.items()])
        if r.sales:
            self._insert_returning(cur, "sales", SALE_COLUMNS, r.sales)
        if r.reviews:
            self._insert_reviews(cur, r.reviews)
        self._apply_shelf(cur, r)

    def _apply_shelf(self, cur: Any, r: Rollup) -> None:
        """Out-of-stock intervals: open one per slot, close it on the restock (or rebuild it from ``empty_s``)."""
        sql = self.sql
        open_slot = ("SELECT id FROM shelf_oos WHERE store = ? AND camera = ? AND shelf = ? AND slot = ? "
                     "AND end_ts IS NULL AND start_ts <= ? ORDER BY start_ts DESC LIMIT 1")
        for store, camera, device, shelf, slot, sku, ts in r.oos_open:
            cur.execute(sql(open_slot), (store, camera, shelf, slot, ts))
            if cur.fetchone() is None:
                cur.execute(sql("INSERT INTO shelf_oos (store, camera, device, shelf, slot, sku, start_ts) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)"), (store, camera, device, shelf, slot, sku, ts))
        for store, camera, shelf, slot, ts, empty_s in r.oos_close:
            cur.execute(sql(open_slot), (store, camera, shelf, slot, ts))
            row = cur.fetchone()
            if row is not None:
                cur.execute(sql("UPDATE shelf_oos SET end_ts = ? WHERE id = ?"), (ts, row[0]))
            elif empty_s is not None:  # the restock arrived without its out-of-stock: rebuild the interval
                cur.execute(sql("INSERT INTO shelf_oos (store, camera, device, shelf, slot, start_ts, end_ts) "
                                "VALUES (?, ?, '', ?, ?, ?, ?)"), (store, camera, shelf, slot, ts - empty_s, ts))

    def import_sales(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert sales rows ``(id, store, sku, qty, price, receipt, ts, source)``; returns how many were new."""
        with self.write() as cur:
            return len(self._insert_returning(cur, "sales", SALE_COLUMNS, rows))

    def prune(self, events_days: float, dead_letters_days: float, rollups_days: float,
              now: float | None = None) -> dict[str, int]:
        """Retention: delete raw events, dead letters and roll-ups older than their limits."""
        now = time.time() if now is None else now
        day = 86400.0
        jobs = {
            "events": ("DELETE FROM events WHERE stored < ?", now - events_days * day),
            "dead_letters": ("DELETE FROM dead_letters WHERE received < ?", now - dead_letters_days * day),
            "footfall_hourly": ("DELETE FROM footfall_hourly WHERE hour < ?", now - rollups_days * day),
            "occupancy_hourly": ("DELETE FROM occupancy_hourly WHERE hour < ?", now - rollups_days * day),
            "dwell_hourly": ("DELETE FROM dwell_hourly WHERE hour < ?", now - rollups_days * day),
            "shelf_oos": ("DELETE FROM shelf_oos WHERE end_ts < ?", now - rollups_days * day),
        }
        deleted = {}
        with self.write() as cur:
            for table, (text, cutoff) in jobs.items():
                cur.execute(self.sql(text), (cutoff,))
                deleted[table] = max(cur.rowcount, 0)
        return deleted
