"""The collector's store: one implementation over a DB-API connection; SQLite and PostgreSQL fill in the dialect.

Writes: :meth:`Store.write_batch` stores a batch of events (insert-or-ignore by id), their roll-ups, dead letters
and device statuses in ONE transaction, so an acknowledged message is always fully stored.
Reads (the documented API other modules use, e.g. the forecaster and recommender): :meth:`stores`,
:meth:`devices`, :meth:`footfall_series`, :meth:`occupancy_live`, :meth:`zone_stats`, :meth:`shelf_alerts`,
:meth:`sales`, :meth:`baskets`, :meth:`dead_letters`. Times are epoch seconds (UTC).
Each thread gets its own connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from collector.store.rollup import Rollup, rollup
from collector.store.schema import MIGRATIONS
from collector.validation import SEQ_WINDOW, Accepted, Rejected, Status

EVENT_COLUMNS = ("id", "kind", "store", "device", "camera", "seq", "ts", "stored", "payload")
SALE_COLUMNS = ("id", "store", "sku", "qty", "price", "receipt", "ts", "source")
BUCKETS = {"hour": 3600, "day": 86400}
MAX_PARAMS = 9000


def _capped_detail(rejected: Rejected, cap: int) -> str:
    if len(rejected.payload) <= cap:
        return rejected.detail
    return f"{rejected.detail} (payload cut to its first {cap} of {len(rejected.payload)} bytes)"[:400]


def _pick(table: str, column: str, op: str = ">") -> str:
    """Portable GREATEST/LEAST for an upsert: the new value where it is ``op`` the stored one."""
    return f"CASE WHEN excluded.{column} {op} {table}.{column} THEN excluded.{column} ELSE {table}.{column} END"


@dataclass(frozen=True, slots=True)
class Receipt:
    """Every event of ``device``'s outbox ``outbox`` with ``seq <=`` this one is stored."""

    store: str
    device: str
    outbox: str
    seq: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    inserted: int
    duplicates: int
    dead_letters: int
    statuses: int
    receipts: tuple[Receipt, ...] = ()
    rejected: tuple[Rejected, ...] = ()  # events the store itself dead-lettered (sanity limits), for the metrics


@dataclass(slots=True)
class _DeviceReceipt:
    outbox: str
    floor: int | None = None
    seqs: list[int] | None = None


class Store(ABC):
    """Backend-neutral store. Subclasses set ``autoid``/``blob``/``placeholder`` and implement connect/transaction."""

    autoid: ClassVar[str]
    blob: ClassVar[str]
    placeholder: ClassVar[str] = "?"
    #: appended to the receipt row's SELECT so concurrent replicas advance one device's receipt one at a time
    lock_rows: ClassVar[str] = ""
    #: sanity limits (``ingest.seq_window``, ``ingest.dead_letter_bytes``): a seq this far beyond the device's
    #: highest is dead-lettered; a dead letter keeps only this many bytes of its payload
    seq_window: int = 1_000_000
    dead_letter_bytes: int = 4096
    #: most out-of-order seqs read back per device and batch when advancing a receipt
    pending_scan: ClassVar[int] = 200_000
    #: errors worth retrying the same batch for (lost connection, locked database); anything else isolates rows
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    # -- backend hooks -------------------------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new connection for the calling thread."""

    @abstractmethod
    def _transaction(self, conn: Any) -> contextlib.AbstractContextManager[None]:
        """Commit on success, roll back on error."""

    def _migration_lock(self, cur: Any) -> None:  # noqa: B027 - a hook: SQLite's write lock is already enough
        """Serialise concurrent migrations (PostgreSQL: advisory lock; SQLite: the write lock is enough)."""

    # -- plumbing ------------------------------------------------------------------------------------------
    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def reset(self) -> None:
        """Drop this thread's connection (after a connection error): the next use reconnects."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._connections.remove(conn)
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):  # a connection owned by a finished thread
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def sql(self, text: str) -> str:
        """Portable SQL (``?`` parameters) in this backend's parameter style."""
        return text if self.placeholder == "?" else text.replace("%", "%%").replace("?", self.placeholder)

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction on this thread's connection; yields a cursor."""
        conn = self.conn
        with self._transaction(conn):
            yield conn.cursor()

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(params))
        names = [col[0] for col in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version."""
        with self.write() as cur:
            self._migration_lock(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            current = cur.fetchone()[0] or 0
            for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements:
                    cur.execute(statement.format(autoid=self.autoid, blob=self.blob))
                cur.execute(self.sql("INSERT INTO schema_version (version) VALUES (?)"), (version,))
        return len(MIGRATIONS)

    # -- writes --------------------------------------------------------------------------------------------
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

    def _apply_rollup(self, cur: Any, r: Rollup) -> None:
        sql = self.sql
        if r.devices:
            cur.executemany(sql(
                "INSERT INTO devices (store, device, seq_min, seq_max, received, last_ts) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (store, device) DO UPDATE SET "
                f"seq_min = {_pick('devices', 'seq_min', '<')}, seq_max = {_pick('devices', 'seq_max')}, "
                f"received = devices.received + excluded.received, last_ts = {_pick('devices', 'last_ts')}"),
                [(*key, *vals) for key, vals in r.devices.items()])
        if r.footfall:
            cur.executemany(sql(
                "INSERT INTO footfall_hourly (store, camera, line, hour, n_in, n_out) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (store, hour, camera, line) DO UPDATE SET n_in = footfall_hourly.n_in + excluded.n_in, "
                "n_out = footfall_hourly.n_out + excluded.n_out"),
                [(*key, *vals) for key, vals in r.footfall.items()])
        if r.occupancy:
            cur.executemany(sql(
                "INSERT INTO occupancy_hourly (store, camera, zone, hour, samples, total, peak) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, hour, camera, zone) DO UPDATE SET "
                "samples = occupancy_hourly.samples + excluded.samples, "
                f"total = occupancy_hourly.total + excluded.total, peak = {_pick('occupancy_hourly', 'peak')}"),
                [(*key, *vals) for key, vals in r.occupancy.items()])
        if r.live:
            cur.executemany(sql(
                "INSERT INTO occupancy_live (store, camera, zone, n, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (store, camera, zone) DO UPDATE SET n = excluded.n, ts = excluded.ts "
                "WHERE excluded.ts >= occupancy_live.ts"),
                [(*key, *vals) for key, vals in r.live.items()])
        if r.dwell:
            cur.executemany(sql(
                "INSERT INTO dwell_hourly (store, camera, zone, hour, visits, dwell_sum, dwell_max) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, hour, camera, zone) DO UPDATE SET "
                "visits = dwell_hourly.visits + excluded.visits, "
                "dwell_sum = dwell_hourly.dwell_sum + excluded.dwell_sum, "
                f"dwell_max = {_pick('dwell_hourly', 'dwell_max')}"),
                [(*key, *vals) for key, vals in r.dwell.items()])
        if r.sales:
            self._insert_returning(cur, "sales", SALE_COLUMNS, r.sales)
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

    # -- reads ---------------------------------------------------------------------------------------------
    def stores(self) -> list[dict[str, Any]]:
        """Every store seen in events or sales: ``store, devices, events, last_ts``."""
        found = {row["store"]: row for row in self.rows(
            "SELECT store, COUNT(*) AS devices, SUM(received) AS events, MAX(last_ts) AS last_ts "
            "FROM devices GROUP BY store")}
        for row in self.rows("SELECT DISTINCT store FROM sales"):
            found.setdefault(row["store"], {"store": row["store"], "devices": 0, "events": 0, "last_ts": None})
        for row in self.rows("SELECT store, COUNT(*) AS n FROM device_status GROUP BY store"):
            found.setdefault(row["store"], {"store": row["store"], "devices": row["n"], "events": 0, "last_ts": None})
        return [
            {**row, "devices": int(row["devices"] or 0), "events": int(row["events"] or 0)}
            for _, row in sorted(found.items())
        ]

    def devices(self, store: str | None = None) -> list[dict[str, Any]]:
        """Devices with their retained status (``online``/``offline``/``unknown``), events received and seq gaps."""
        where, params = ("WHERE store = ?", (store,)) if store else ("", ())
        seen = {(r["store"], r["device"]): r for r in self.rows(
            f"SELECT store, device, seq_min, seq_max, received, last_ts FROM devices {where}", params)}
        status = {(r["store"], r["device"]): r for r in self.rows(
            f"SELECT store, device, state, ts, clean FROM device_status {where}", params)}
        out = []
        for key in sorted(seen.keys() | status.keys()):
            ev, st = seen.get(key), status.get(key)
            received = int(ev["received"]) if ev else 0
            gaps = max(0, int(ev["seq_max"]) - int(ev["seq_min"]) + 1 - received) if ev else 0
            out.append({
                "store": key[0], "device": key[1], "state": st["state"] if st else "unknown",
                "status_ts": st["ts"] if st else None, "last_event_ts": ev["last_ts"] if ev else None,
                "events": received, "seq_gaps": gaps, "seq_max": int(ev["seq_max"]) if ev else None,
            })
        return out

    def footfall_series(self, store: str | None = None, start: float | None = None, end: float | None = None,
                        bucket: str = "hour", camera: str | None = None, per_camera: bool = False,
                        ) -> list[dict[str, Any]]:
        """Footfall ``in``/``out`` per bucket (``hour`` or ``day``, UTC) from the hourly roll-up, oldest first.

        Rows: ``store, camera (None unless per_camera), t (bucket start, epoch s), in, out``; empty buckets omitted.
        """
        size = BUCKETS[bucket]
        conds, params = self._range("hour", start, end)
        if store:
            conds.append("store = ?")
            params.append(store)
        if camera is not None:
            conds.append("camera = ?")
            params.append(camera)
        group = "store, camera" if per_camera else "store"
        rows = self.rows(
            f"SELECT {group}, hour - (hour % {size}) AS t, SUM(n_in) AS n_in, SUM(n_out) AS n_out "
            f"FROM footfall_hourly {self._where(conds)} GROUP BY {group}, hour - (hour % {size}) "
            f"ORDER BY {group}, t", params)
        return [{"store": r["store"], "camera": r.get("camera"), "t": int(r["t"]), "in": int(r["n_in"]),
                 "out": int(r["n_out"])} for r in rows]

    def occupancy_live(self, store: str) -> list[dict[str, Any]]:
        """The latest count per camera and zone: ``camera, zone, count, ts``."""
        rows = self.rows("SELECT camera, zone, n, ts FROM occupancy_live WHERE store = ? ORDER BY camera, zone",
                         (store,))
        return [{"camera": r["camera"] or None, "zone": r["zone"], "count": int(r["n"]), "ts": r["ts"]} for r in rows]

    def zone_stats(self, store: str, start: float | None = None, end: float | None = None,
                   bucket: str = "hour") -> list[dict[str, Any]]:
        """Occupancy (mean, peak) and dwell (visits, mean, max seconds) per zone and bucket."""
        size = BUCKETS[bucket]
        conds, params = self._range("hour", start, end)
        conds.insert(0, "store = ?")
        params.insert(0, store)
        where = self._where(conds)
        occ = self.rows(
            f"SELECT zone, hour - (hour % {size}) AS t, SUM(samples) AS samples, SUM(total) AS total, "
            f"MAX(peak) AS peak FROM occupancy_hourly {where} GROUP BY zone, hour - (hour % {size})", params)
        dwell = self.rows(
            f"SELECT zone, hour - (hour % {size}) AS t, SUM(visits) AS visits, SUM(dwell_sum) AS dwell_sum, "
            f"MAX(dwell_max) AS dwell_max FROM dwell_hourly {where} GROUP BY zone, hour - (hour % {size})", params)
        stats: dict[tuple[str, int], dict[str, Any]] = {}
        for r in occ:
            stats[(r["zone"], int(r["t"]))] = {"occupancy_mean": float(r["total"]) / int(r["samples"]),
                                                 "occupancy_peak": int(r["peak"])}
        for r in dwell:
            stats.setdefault((r["zone"], int(r["t"])), {}).update(
                visits=int(r["visits"]), dwell_mean_s=float(r["dwell_sum"]) / int(r["visits"]),
                dwell_max_s=float(r["dwell_max"]))
        return [{"zone": zone, "t": t, "occupancy_mean": None, "occupancy_peak": None, "visits": 0,
                 "dwell_mean_s": None, "dwell_max_s": None, **values} for (zone, t), values in sorted(stats.items())]

    def shelf_alerts(self, store: str | None = None, open_only: bool = True) -> list[dict[str, Any]]:
        """Out-of-stock intervals (open ones have ``end`` None), newest first."""
        conds: list[str] = ["end_ts IS NULL"] if open_only else []
        params: list[Any] = []
        if store:
            conds.append("store = ?")
            params.append(store)
        rows = self.rows(f"SELECT id, store, camera, device, shelf, slot, sku, start_ts, end_ts FROM shelf_oos "
                         f"{self._where(conds)} ORDER BY start_ts DESC", params)
        return [{"id": int(r["id"]), "store": r["store"], "camera": r["camera"] or None, "device": r["device"],
                 "shelf": r["shelf"], "slot": r["slot"], "sku": r["sku"], "start": r["start_ts"], "end": r["end_ts"]}
                for r in rows]

    def sales(self, store: str | None = None, start: float | None = None, end: float | None = None,
              sku: str | None = None) -> list[dict[str, Any]]:
        """Sale lines ``id, store, sku, qty, price, receipt, ts, source``, oldest first."""
        conds, params = self._range("ts", start, end)
        for column, value in (("store", store), ("sku", sku)):
            if value:
                conds.append(f"{column} = ?")
                params.append(value)
        return self.rows(f"SELECT {', '.join(SALE_COLUMNS)} FROM sales {self._where(conds)} ORDER BY ts, id", params)

    def baskets(self, store: str | None = None, start: float | None = None,
                end: float | None = None) -> list[dict[str, Any]]:
        """Basket lines for the recommender: ``transaction_id, item, timestamp, store`` (receipts only)."""
        return [{"transaction_id": f"{r['store']}/{r['receipt']}", "item": r["sku"], "timestamp": r["ts"],
                 "store": r["store"]} for r in self.sales(store, start, end) if r["receipt"]]

    def dead_letters(self, limit: int = 100, reason: str | None = None,
                     before: int | None = None) -> list[dict[str, Any]]:
        """Dead letters, newest first; ``before``: only ids below it (the next page after the last id seen)."""
        conds: list[str] = ["reason = ?"] if reason else []
        params: list[Any] = [reason] if reason else []
        if before is not None:
            conds.append("id < ?")
            params.append(before)
        rows = self.rows(f"SELECT id, received, topic, reason, detail, payload FROM dead_letters {self._where(conds)} "
                         f"ORDER BY id DESC LIMIT {int(limit)}", params)
        return [{**r, "payload": bytes(r["payload"])} for r in rows]

    def receipts(self) -> list[dict[str, Any]]:
        """The receipt of every device: ``store, device, outbox, seq, ts``."""
        return self.rows("SELECT store, device, outbox, seq, ts FROM receipts ORDER BY store, device")

    def counts(self) -> dict[str, Any]:
        """Totals for metrics: events stored, dead letters by reason, sequence gaps summed over devices."""
        dev = self.rows("SELECT COALESCE(SUM(received), 0) AS events, "
                        "COALESCE(SUM(seq_max - seq_min + 1 - received), 0) AS gaps FROM devices")[0]
        dead = {r["reason"]: int(r["n"]) for r in self.rows(
            "SELECT reason, COUNT(*) AS n FROM dead_letters GROUP BY reason")}
        waiting = self.rows("SELECT COUNT(*) AS n FROM receipt_pending")[0]
        return {"events": int(dev["events"]), "seq_gaps": int(dev["gaps"]), "dead_letters": dead,
                "unreceipted": int(waiting["n"])}

    @staticmethod
    def _range(column: str, start: float | None, end: float | None) -> tuple[list[str], list[Any]]:
        conds, params = [], []
        if start is not None:
            conds.append(f"{column} >= ?")
            params.append(start)
        if end is not None:
            conds.append(f"{column} < ?")
            params.append(end)
        return conds, params

    @staticmethod
    def _where(conds: Sequence[str]) -> str:
        return "WHERE " + " AND ".join(conds) if conds else ""
