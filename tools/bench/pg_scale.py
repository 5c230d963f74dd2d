"""PostgreSQL at scale: generate a year of events for a chain (server side), then time the dashboard's reads.

Generation runs inside PostgreSQL (``generate_series``), one UTC day per transaction, resumable: a day already
recorded in ``bench_days`` is skipped, so an interrupted run continues where it stopped. Per store and day:
1,200 ``footfall.crossing``, 1,000 ``zone.occupancy`` (two zones), 200 ``zone.visit``, 144 ``device.health``
(every 10 min), 98 ``shelf.out_of_stock`` + ``shelf.restocked`` pairs; 50 stores x 365 days = 50,005,000 events.
The roll-ups the collector keeps (hourly footfall/occupancy/dwell, live occupancy, shelf intervals, devices) are
filled from the same generated rows in the same transaction, so they agree with the events.

The queries are the collector's own: the store's read methods, ``GET /api/v1/summary`` through the API app,
and the fleet's health/detection reads of raw events; each runs ``--runs`` times (median, p95), and the SQL they
issue is EXPLAINed (partition pruning, index use) into the report.

    nice -n 10 .venv/bin/python tools/bench/pg_scale.py --url postgresql://postgres@127.0.0.1:5432/h2 --out r.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastapi.testclient import TestClient

from collector.api import create_app
from collector.fleet.health_watch import HealthWatch, detections
from collector.store import Store, open_store
from collector.store.schema import MIGRATIONS

DAY = 86400
PER_STORE_DAY = 2740  # events per store and day (see the module docstring)

GENERATE = """
CREATE TEMP TABLE gen ON COMMIT DROP AS
WITH base AS (
    SELECT s, i, 's' || lpad(s::text, 3, '0') AS store, %(day_no)s::bigint * {per} + i + 1 AS seq,
           random() AS r, random() AS r2, (i - 2544) / 2 AS pair,
           CASE WHEN i < 1200 THEN 'footfall.crossing' WHEN i < 2200 THEN 'zone.occupancy'
                WHEN i < 2400 THEN 'zone.visit' WHEN i < 2544 THEN 'device.health'
                WHEN i %% 2 = 0 THEN 'shelf.out_of_stock' ELSE 'shelf.restocked' END AS kind
    FROM generate_series(1, %(stores)s) s, generate_series(0, {last}) i
), timed AS (
    SELECT *, %(day)s + CASE
        WHEN i < 1200 THEN 25200 + (i + r) * 42.0
        WHEN i < 2200 THEN 25200 + ((i - 1200) / 2 + r) * 100.8
        WHEN i < 2400 THEN 25200 + (i - 2200 + r) * 252.0
        WHEN i < 2544 THEN (i - 2400) * 600 + r * 5
        WHEN i %% 2 = 0 THEN 25200 + pair * 514.0
        ELSE 25200 + pair * 514.0 + 300 + r * 1800 END AS ts
    FROM base
)
SELECT store, 'edge-1' AS device, seq, kind, pair, md5(store || '/edge-1/' || seq) AS id,
       CASE WHEN kind = 'footfall.crossing' THEN 'cam1' WHEN kind = 'device.health' THEN NULL
            WHEN kind LIKE 'zone.%%' THEN 'cam2' ELSE 'cam3' END AS camera,
       ts, ts + 0.2 + r2 * 1.8 AS stored,
       CASE WHEN kind LIKE 'zone.%%' THEN 'z' || (i %% 2 + 1) WHEN kind LIKE 'shelf.%%' THEN 'shelf' || (pair %% 4 + 1)
            ELSE 'door' END AS key,
       CASE WHEN r2 < 0.5 THEN 'in' ELSE 'out' END AS dir,
       floor(25 * sin(pi() * ((i - 1200) / 2) / 500.0) * (0.6 + 0.8 * r))::bigint AS n,
       round((20 + r2 * 580)::numeric, 1) AS dwell,
       'slot' || (pair %% 12 + 1) AS slot, 'sku-' || (s * 100 + pair %% 12) AS sku,
       round((300 + r * 1800)::numeric, 1) AS empty_s
FROM timed WHERE ts >= %(start)s AND ts < %(now)s
"""

PAYLOAD = """format('{"v":1,"id":"%%s","kind":"%%s","store":"%%s","device":"%%s","camera":%%s,'
    '"seq":%%s,"ts":"%%s","data":%%s}',
    id, kind, store, device, COALESCE('"' || camera || '"', 'null'), seq,
    to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), CASE kind
    WHEN 'footfall.crossing' THEN format('{"line":"door","direction":"%%s","track_id":%%s}', dir, seq %% 100000)
    WHEN 'zone.occupancy' THEN format('{"zone":"%%s","count":%%s}', key, n)
    WHEN 'zone.visit' THEN format('{"zone":"%%s","track_id":%%s,"dwell_s":%%s}', key, seq %% 100000, dwell)
    WHEN 'device.health' THEN format('{"reason":"periodic","uptime_s":%%s,"fps":%%s,"inference_ms":%%s,'
        '"dropped_frames":%%s,"camera_state":"streaming"}', round((ts - %(day)s)::numeric),
        round(14.5 + dwell / 600, 2), round(30 + dwell / 30, 1), seq %% 1000)
    WHEN 'shelf.out_of_stock' THEN format('{"shelf":"%%s","slot":"%%s","sku":"%%s","confidence":0.93}', key, slot, sku)
    ELSE format('{"shelf":"%%s","slot":"%%s","sku":"%%s","empty_s":%%s}', key, slot, sku, empty_s) END)"""

FILL = (
    "INSERT INTO event_ids (id, stored) SELECT id, stored FROM gen ORDER BY id",
    f"INSERT INTO events (id, kind, store, device, camera, seq, ts, stored, payload) "
    f"SELECT id, kind, store, device, camera, seq, ts, stored, {PAYLOAD} FROM gen",
    "INSERT INTO footfall_hourly (store, camera, line, hour, n_in, n_out) SELECT store, camera, key, "
    "floor(ts / 3600)::bigint * 3600, COUNT(*) FILTER (WHERE dir = 'in'), COUNT(*) FILTER (WHERE dir = 'out') "
    "FROM gen WHERE kind = 'footfall.crossing' GROUP BY 1, 2, 3, 4",
    "INSERT INTO occupancy_hourly (store, camera, zone, hour, samples, total, peak) SELECT store, camera, key, "
    "floor(ts / 3600)::bigint * 3600, COUNT(*), SUM(n), MAX(n) FROM gen WHERE kind = 'zone.occupancy' "
    "GROUP BY 1, 2, 3, 4",
    "INSERT INTO dwell_hourly (store, camera, zone, hour, visits, dwell_sum, dwell_max) SELECT store, camera, key, "
    "floor(ts / 3600)::bigint * 3600, COUNT(*), SUM(dwell), MAX(dwell) FROM gen WHERE kind = 'zone.visit' "
    "GROUP BY 1, 2, 3, 4",
    "INSERT INTO shelf_oos (store, camera, device, shelf, slot, sku, start_ts, end_ts) "
    "SELECT o.store, o.camera, o.device, o.key, o.slot, o.sku, o.ts, r.ts FROM gen o LEFT JOIN gen r "
    "ON r.kind = 'shelf.restocked' AND r.store = o.store AND r.pair = o.pair WHERE o.kind = 'shelf.out_of_stock'",
    "INSERT INTO devices (store, device, seq_min, seq_max, received, last_ts) "
    "SELECT store, device, MIN(seq), MAX(seq), COUNT(*), MAX(ts) FROM gen GROUP BY 1, 2 "
    "ON CONFLICT (store, device) DO UPDATE SET seq_min = LEAST(devices.seq_min, excluded.seq_min), "
    "seq_max = GREATEST(devices.seq_max, excluded.seq_max), received = devices.received + excluded.received, "
    "last_ts = GREATEST(devices.last_ts, excluded.last_ts)",
    "INSERT INTO occupancy_live (store, camera, zone, n, ts) SELECT DISTINCT ON (store, camera, key) "
    "store, camera, key, n, ts FROM gen WHERE kind = 'zone.occupancy' ORDER BY store, camera, key, ts DESC "
    "ON CONFLICT (store, camera, zone) DO UPDATE SET n = excluded.n, ts = excluded.ts "
    "WHERE excluded.ts >= occupancy_live.ts",
)


#: a whole day copied from the generated day of the same weekday (``%(src)s``): ids, seq and dates in the
#: payload rewritten to match the copy's columns
COPY = (
    "INSERT INTO event_ids (id, stored) SELECT md5(store || '/' || device || '/' || (seq + %(dseq)s)), "
    "stored + %(dt)s FROM events WHERE {src}",
    "INSERT INTO events (id, kind, store, device, camera, seq, ts, stored, payload) "
    "SELECT md5(store || '/' || device || '/' || (seq + %(dseq)s)), kind, store, device, camera, seq + %(dseq)s, "
    "ts + %(dt)s, stored + %(dt)s, replace(overlay(payload PLACING md5(store || '/' || device || '/' || "
    "(seq + %(dseq)s)) FROM 14 FOR 32), '\"seq\":' || seq || ',\"ts\":\"' || %(src_date)s, "
    "'\"seq\":' || (seq + %(dseq)s) || ',\"ts\":\"' || %(date)s) FROM events WHERE {src}",
    "INSERT INTO footfall_hourly (store, camera, line, hour, n_in, n_out) SELECT store, camera, line, "
    "hour + %(dt)s, n_in, n_out FROM footfall_hourly WHERE hour >= %(src_day)s AND hour < %(src_day)s + 86400",
    "INSERT INTO occupancy_hourly (store, camera, zone, hour, samples, total, peak) SELECT store, camera, zone, "
    "hour + %(dt)s, samples, total, peak FROM occupancy_hourly WHERE hour >= %(src_day)s "
    "AND hour < %(src_day)s + 86400",
    "INSERT INTO dwell_hourly (store, camera, zone, hour, visits, dwell_sum, dwell_max) SELECT store, camera, zone, "
    "hour + %(dt)s, visits, dwell_sum, dwell_max FROM dwell_hourly WHERE hour >= %(src_day)s "
    "AND hour < %(src_day)s + 86400",
    "INSERT INTO shelf_oos (store, camera, device, shelf, slot, sku, start_ts, end_ts) SELECT store, camera, "
    "device, shelf, slot, sku, start_ts + %(dt)s, end_ts + %(dt)s FROM shelf_oos WHERE start_ts >= %(src_day)s "
    "AND start_ts < %(src_day)s + 86400",
    "INSERT INTO devices (store, device, seq_min, seq_max, received, last_ts) SELECT store, device, "
    "MIN(seq) + %(dseq)s, MAX(seq) + %(dseq)s, COUNT(*), MAX(ts) + %(dt)s FROM events WHERE {src} GROUP BY 1, 2 "
    "ON CONFLICT (store, device) DO UPDATE SET seq_min = LEAST(devices.seq_min, excluded.seq_min), "
    "seq_max = GREATEST(devices.seq_max, excluded.seq_max), received = devices.received + excluded.received, "
    "last_ts = GREATEST(devices.last_ts, excluded.last_ts)",
)
SOURCE_DAY = ("stored >= %(src_day)s AND stored < %(src_day)s + 86400 + 10 AND ts >= %(src_day)s "
              "AND ts < %(src_day)s + 86400")


def _bulk_indexes(table: str) -> list[str]:
    """Migration 9's indexes on ``table`` (``events`` or ``event_ids``): dropped while loading, built at the end."""
    migration = MIGRATIONS[8]
    assert isinstance(migration, dict)
    return [s for s in migration["postgres"] if s.startswith("CREATE INDEX") and f" ON {table} " in s]


def _set_indexes(store: Store, present: bool, tables: Sequence[str] = ("events", "event_ids")) -> float:
    """Build (or drop) the bulk-load indexes of ``tables``; returns the seconds it took."""
    t0 = time.monotonic()
    with store.write() as cur:
        cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
        if "event_ids" in tables:
            cur.execute("SELECT 1 FROM pg_constraint WHERE conname = 'event_ids_pkey' "
                        "AND connamespace = current_schema()::regnamespace")
            has_key = cur.fetchone() is not None
            if present and not has_key:
                cur.execute("ALTER TABLE event_ids ADD PRIMARY KEY (id)")
            elif not present and has_key:
                cur.execute("ALTER TABLE event_ids DROP CONSTRAINT event_ids_pkey")
        for statement in (s for table in tables for s in _bulk_indexes(table)):
            name = statement.split()[2]
            cur.execute(statement.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS") if present
                        else f"DROP INDEX IF EXISTS {name}")
    return time.monotonic() - t0


def _day_plan(first: int, today: int) -> list[tuple[int, int | None]]:
    """``(day, source)`` newest first: today and the week before it generated (source None), the older days
    copied from the generated day of their weekday, so a run stopped early still holds the most recent days."""
    week = [today - k for k in range(1, 8)]
    return [(today, None), *((d, None) for d in week if d >= first),
            *((d, today - 7 + (d - (today - 7)) % 7) for d in range(today - 8, first - 1, -1))]


def generate(store: Store, stores: int, days: int, max_minutes: float) -> dict[str, Any]:
    """Fill the store with ``days`` whole days before now (fixed at the first run) and today up to now, for
    ``stores`` stores; resumable; stops after ``max_minutes`` (the next run continues)."""
    with store.write() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (now DOUBLE PRECISION NOT NULL, stores INTEGER NOT NULL, "
                    "days INTEGER NOT NULL)")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_days (day BIGINT PRIMARY KEY, events BIGINT NOT NULL, "
                    "seconds DOUBLE PRECISION NOT NULL)")
        cur.execute("SELECT now, stores, days FROM bench_meta")
        meta = cur.fetchone()
        if meta is None:
            meta = (time.time(), stores, days)
            cur.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)", meta)
    now, stores, days = float(meta[0]), int(meta[1]), int(meta[2])
    today = int(now // DAY)
    store.ensure_partitions((today - days) * DAY, now + DAY)  # type: ignore[attr-defined]
    done = {int(r["day"]) for r in store.rows("SELECT day FROM bench_days")}
    plan = [(d, src) for d, src in _day_plan(today - days, today) if d not in done]
    began = time.monotonic()
    if plan:
        _set_indexes(store, present=False)
    for day_no, src in plan:
        if time.monotonic() - began > max_minutes * 60:
            print(f"stopping after {max_minutes} min: run again to continue", flush=True)
            break
        t0 = time.monotonic()
        date = datetime.fromtimestamp(day_no * DAY, UTC).strftime("%Y-%m-%d")
        with store.write() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            params: dict[str, Any]
            if src is None:
                params = {"day_no": day_no, "stores": stores, "day": float(day_no * DAY), "start": 0.0, "now": now}
                cur.execute(GENERATE.format(per=PER_STORE_DAY, last=PER_STORE_DAY - 1), params)
                for statement in FILL:
                    cur.execute(statement, params if "%(" in statement else None)
                cur.execute("SELECT COUNT(*) FROM gen")
            else:
                params = {"dt": float((day_no - src) * DAY), "dseq": (day_no - src) * PER_STORE_DAY,
                          "src_day": float(src * DAY), "date": date,
                          "src_date": datetime.fromtimestamp(src * DAY, UTC).strftime("%Y-%m-%d")}
                for statement in COPY:
                    cur.execute(statement.format(src=SOURCE_DAY), params)
                cur.execute(f"SELECT COUNT(*) FROM events WHERE {SOURCE_DAY}", params)
            n = int(cur.fetchone()[0])
            cur.execute("INSERT INTO bench_days VALUES (%s, %s, %s)", (day_no, n, time.monotonic() - t0))
        print(f"{date} ({'generated' if src is None else 'copied'}): {n} events in {time.monotonic() - t0:.1f} s",
              flush=True)
    index_seconds = _set_indexes(store, present=True, tables=("events",))  # event_ids' after the queries
    with store.write() as cur:
        cur.execute("INSERT INTO device_status (store, device, state, ts, clean) SELECT store, device, 'online', "
                    "%s, NULL FROM devices ON CONFLICT (store, device) DO NOTHING", (now,))
    if plan or not store.rows("SELECT 1 FROM pg_stats WHERE schemaname = current_schema() "
                              "AND tablename = 'footfall_hourly'"):  # statistics for what was loaded
        store.conn.execute("ANALYZE events, event_ids, footfall_hourly, occupancy_hourly, dwell_hourly, shelf_oos, "
                           "devices, device_status, occupancy_live")
    totals = store.rows("SELECT COUNT(*) AS days, SUM(events) AS events, SUM(seconds) AS seconds FROM bench_days")[0]
    return {"now": now, "stores": stores, "days": days, "days_done": int(totals["days"]),
            "events": int(totals["events"] or 0), "load_seconds": float(totals["seconds"] or 0),
            "events_index_seconds": index_seconds, "this_run_seconds": time.monotonic() - began}


def queries(store: Store, now: float, client: TestClient) -> dict[str, Callable[[], Any]]:
    """The dashboard's and API's reads, by name, as the collector runs them (``client``: on the API app)."""
    auth = {"Authorization": "Bearer bench-token-123"}

    def summary() -> Any:
        response = client.get("/api/v1/summary", params={"store": "s001"}, headers=auth)
        response.raise_for_status()
        return response.json()

    return {
        "GET /api/v1/summary?store=s001 (whole request)": summary,
        "stores()": store.stores,
        "devices(s001)": lambda: store.devices("s001"),
        "footfall_series(s001, last 24 h, hour)": lambda: store.footfall_series("s001", now - DAY, None, "hour"),
        "footfall_series(s001, 30 days, day)": lambda: store.footfall_series("s001", now - 30 * DAY, None, "day"),
        "footfall_series(s001, 365 days, day)": lambda: store.footfall_series("s001", now - 365 * DAY, None, "day"),
        "footfall_series(all stores, 30 days, day)": lambda: store.footfall_series(None, now - 30 * DAY, None, "day"),
        "occupancy_live(s001)": lambda: store.occupancy_live("s001"),
        "zone_stats(s001, 7 days, hour)": lambda: store.zone_stats("s001", now - 7 * DAY, None, "hour"),
        "shelf_alerts(s001, open)": lambda: store.shelf_alerts("s001"),
        "shelf_alerts(all stores, open)": lambda: store.shelf_alerts(None),
        "shelf_alerts(s001, all: a year of intervals)": lambda: store.shelf_alerts("s001", open_only=False),
        "counts() (/metrics)": store.counts,
        "HealthWatch.refresh (device.health, last hour)": lambda: HealthWatch(store, now - 3600).refresh(),
        "detections(all devices, last hour)": lambda: detections(store, now - 3600, now),
    }


def timed(run: Callable[[], Any], runs: int) -> dict[str, float]:
    run()  # warm: plans, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 2),
            "max_ms": round(times[-1], 2)}


def explain(store: Store, run: Callable[[], Any]) -> list[str]:
    """EXPLAIN (ANALYZE) of every statement ``run`` sends through :meth:`Store.rows`."""
    seen: list[tuple[str, Sequence[Any]]] = []
    original = store.rows

    def recording(text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        seen.append((text, params))
        return original(text, params)

    store.rows = recording  # type: ignore[method-assign]
    try:
        run()
    finally:
        store.rows = original  # type: ignore[method-assign]
    plans = []
    for text, params in seen:
        cur = store.conn.cursor()
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + store.sql(text), tuple(params))
        plans.append(text + "\n" + "\n".join(row[0] for row in cur.fetchall()))
    return plans


def size(store: Store, schema: str) -> dict[str, Any]:
    """The schema's size on disk (tables, their indexes and TOAST), the events' share, and its day partitions."""
    return store.rows("SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) AS total, "
                      "pg_size_pretty(SUM(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname LIKE 'events\\_%' "
                      "OR c.relname = 'event_ids')) AS events, "
                      "COUNT(*) FILTER (WHERE c.relname LIKE 'events\\_%') AS partitions "
                      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "WHERE n.nspname = ? AND c.relkind = 'r'", (schema,))[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a database to fill")
    parser.add_argument("--schema", default="scale", help="schema the store lives in (default: scale)")
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (default: 7)")
    parser.add_argument("--out", type=Path, required=True, help="JSON report")
    parser.add_argument("--max-minutes", type=float, default=float("inf"),
                        help="stop generating after this long, build the indexes and time the queries on what is there")
    parser.add_argument("--drop", action="store_true", help="drop the schema when done")
    args = parser.parse_args(argv)
    if not args.url.startswith(("postgresql://", "postgres://")):
        parser.error(f"--url must be a postgresql:// URL, not {args.url!r}")
    store = open_store(args.url, args.schema)
    report: dict[str, Any] = {"generate": generate(store, args.stores, args.days, args.max_minutes)}
    report["size"] = size(store, args.schema)
    print(report["generate"], report["size"], flush=True)
    now = report["generate"]["now"]
    report["queries"], report["explain"] = {}, {}
    with TestClient(create_app(store, "bench-token-123")) as client:  # one app and event loop, as a server
        for name, run in queries(store, now, client).items():
            report["queries"][name] = timed(run, args.runs)
            report["explain"][name] = explain(store, run)
            print(f"{name}: {report['queries'][name]}", flush=True)
    args.out.write_text(json.dumps(report, indent=1))
    report["generate"]["event_ids_index_seconds"] = _set_indexes(store, present=True)  # no query reads it
    report["size"] = size(store, args.schema)
    args.out.write_text(json.dumps(report, indent=1))
    if args.drop:
        store.drop_schema()  # type: ignore[attr-defined]
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
