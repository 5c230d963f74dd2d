"""The store's read queries: the documented API other modules use (the API, dashboard, forecaster, recommender).

:meth:`stores`, :meth:`devices`, :meth:`footfall_series`, :meth:`occupancy_live`, :meth:`zone_stats`,
:meth:`shelf_alerts`, :meth:`sales`, :meth:`baskets`, :meth:`dead_letters`, :meth:`receipts`, :meth:`counts`,
:meth:`shadow_latest`.
Times are epoch seconds (UTC). Reads run on the calling thread's connection, outside any write transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from collector.store.database import Database
from collector.store.writes import SALE_COLUMNS

BUCKETS = {"hour": 3600, "day": 86400}


class Reads(Database):
    """Read-only queries over the schema in :mod:`collector.store.schema`."""

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

    def shadow_latest(self, store: str) -> list[dict[str, Any]]:
        """The latest ``model.shadow`` per device and camera of ``store``: ``device, camera, ts, data``."""
        rows = self.rows("SELECT device, camera, ts, data FROM model_shadow WHERE store = ? ORDER BY device, camera",
                         (store,))
        return [{"device": r["device"], "camera": r["camera"] or None, "ts": r["ts"], "data": json.loads(r["data"])}
                for r in rows]

    def shelf_alerts(self, store: str | None = None, open_only: bool = True, limit: int | None = None,
                     before: int | None = None) -> list[dict[str, Any]]:
        """Out-of-stock intervals (open ones have ``end`` None), newest first (by start, then id); at most
        ``limit``, and only those after the interval with id ``before`` in that order (the next page)."""
        conds: list[str] = ["end_ts IS NULL"] if open_only else []
        params: list[Any] = []
        if store:
            conds.append("store = ?")
            params.append(store)
        if before is not None:
            cursor = "(SELECT start_ts FROM shelf_oos WHERE id = ?)"
            conds.append(f"(start_ts < {cursor} OR (start_ts = {cursor} AND id < ?))")
            params += [before, before, before]
        page = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = self.rows(f"SELECT id, store, camera, device, shelf, slot, sku, start_ts, end_ts FROM shelf_oos "
                         f"{self._where(conds)} ORDER BY start_ts DESC, id DESC{page}", params)
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
        """``start <= column < end``; an ``hour`` column (integer) gets integer bounds (the same rows), so the
        comparison stays on the integer column and PostgreSQL can use it in the roll-ups' primary keys."""
        bound = math.ceil if column == "hour" else float
        conds, params = [], []
        if start is not None:
            conds.append(f"{column} >= ?")
            params.append(bound(start))
        if end is not None:
            conds.append(f"{column} < ?")
            params.append(bound(end))
        return conds, params

    @staticmethod
    def _where(conds: Sequence[str]) -> str:
        return "WHERE " + " AND ".join(conds) if conds else ""
