"""PostgreSQL's day partitions of ``events``: created ahead, dropped past retention, migration 8 -> 9 with rows,
and an event never stored twice across partitions."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import collector.store.database as database
from collector.fleet.health_watch import HealthWatch, detections
from collector.store import Store, open_store, partitions
from collector.store.postgres import PostgresStore
from collector.store.schema import MIGRATIONS
from collector.store.writes import Writes
from collector.validation import Accepted, check_event
from contract import Event
from tests.collector.conftest import PG_URL, postgres_reachable

DAY = partitions.DAY


@pytest.fixture
def schema() -> Iterator[str]:
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    cleanup = open_store(PG_URL, name, migrate=False)
    cleanup.drop_schema()  # type: ignore[attr-defined]
    cleanup.close()


@pytest.fixture
def pg(schema: str) -> Iterator[Store]:
    store = open_store(PG_URL, schema)
    yield store
    store.close()


def accept(events: list[Event]) -> list[Accepted]:
    out = [check_event(e.topic(), e.to_json()) for e in events]
    assert all(isinstance(a, Accepted) for a in out), out
    return out  # type: ignore[return-value]


def events(n: int, start_seq: int = 0, kind: str = "footfall.crossing") -> list[Event]:
    now = datetime.now(UTC)
    data: dict[str, Any] = ({"line": "door", "direction": "in", "track_id": 1} if kind == "footfall.crossing"
                            else {"reason": "periodic", "fps": 15.0, "uptime_s": 60.0})
    camera = "cam1" if kind == "footfall.crossing" else None
    return [Event(kind, "s1", "d1", start_seq + i, data, camera=camera, ts=now - timedelta(seconds=n - i))
            for i in range(n)]


def parts(store: Store) -> list[partitions.Partition]:
    with store.write() as cur:
        return partitions.partitions(cur)


def partition_of(store: Store) -> dict[str, str]:
    return {r["id"]: r["part"] for r in store.rows("SELECT id, tableoid::regclass::text AS part FROM events")}


def test_day_partitions_are_created_ahead(pg: Store) -> None:
    today = int(time.time() // DAY) * DAY
    found = parts(pg)
    assert [p.low for p in found] == [today + k * DAY for k in range(partitions.AHEAD_DAYS + 1)]
    assert all(p.high == p.low + DAY for p in found)
    assert found[0].name == "events_" + datetime.fromtimestamp(today, UTC).strftime("%Y%m%d")
    pg.write_batch(accept(events(5)))
    assert set(partition_of(pg).values()) == {found[0].name}
    pg.ensure_partitions(today - 3 * DAY, today)  # type: ignore[attr-defined]
    pg.ensure_partitions(today - 3 * DAY, today)  # type: ignore[attr-defined]  # idempotent
    assert len(parts(pg)) == partitions.AHEAD_DAYS + 4


def test_a_batch_past_the_last_partition_creates_more(pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    later = time.time() + 30 * DAY  # the collector ran for a month without a retention run
    monkeypatch.setattr(time, "time", lambda: later)
    assert pg.write_batch(accept(events(3))).inserted == 3
    assert max(p.high for p in parts(pg)) >= later + partitions.AHEAD_DAYS * DAY
    assert len(set(partition_of(pg).values())) == 1


def test_an_event_is_never_stored_twice_across_partitions(pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = accept(events(10))
    assert pg.write_batch(batch[:6]).inserted == 6
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * DAY)  # redelivered days later
    again = pg.write_batch(batch)
    assert (again.inserted, again.duplicates) == (4, 6)
    where = partition_of(pg)
    assert len(where) == 10 and len(set(where.values())) == 2  # the 4 new ones went to a later day
    assert pg.rows("SELECT COUNT(*) AS n FROM event_ids")[0]["n"] == 10
    assert sum(p["in"] for p in pg.footfall_series("s1")) == 10  # roll-ups counted each event once


def test_retention_drops_whole_partitions_and_trims_the_boundary_day(pg: Store) -> None:
    pg.write_batch(accept(events(8)))
    now = time.time()
    assert pg.prune(events_days=1, dead_letters_days=1, rollups_days=3650, now=now)["events"] == 0
    names = {p.name for p in parts(pg)}
    later = now + 10 * DAY
    deleted = pg.prune(events_days=1, dead_letters_days=30, rollups_days=3650, now=later)
    assert deleted["events"] == 8 and deleted["event_ids"] == 8
    left = parts(pg)
    assert min(p.low for p in left) > now - DAY  # today's partition is gone
    assert min(p.high for p in left) > later - DAY and max(p.high for p in left) >= later + 7 * DAY
    assert names - {p.name for p in left}
    assert pg.rows("SELECT COUNT(*) AS n FROM events")[0]["n"] == 0


def test_retention_row_by_row_inside_the_boundary_partition(pg: Store) -> None:
    pg.write_batch(accept(events(4)))
    stored = pg.rows("SELECT MAX(stored) AS t FROM events")[0]["t"]
    deleted = pg.prune(events_days=1, dead_letters_days=30, rollups_days=3650, now=stored + DAY + 1)
    assert deleted["events"] == 4  # the partition may still be current: its old rows are deleted one by one
    assert pg.rows("SELECT COUNT(*) AS n FROM events")[0]["n"] == 0


def reads(store: Store) -> dict[str, Any]:
    now = time.time()
    watch = HealthWatch(store, now - DAY)
    watch.refresh()
    return {"footfall": store.footfall_series("s1"), "devices": store.devices(), "counts": store.counts(),
            "detections": detections(store, now - 10 * DAY, now + DAY),
            "health": watch.window(("s1", "d1"), now - DAY),
            "events": store.rows("SELECT id, kind, store, device, camera, seq, ts, stored, payload FROM events "
                                 "ORDER BY id")}


def test_migration_from_8_keeps_every_row(schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "MIGRATIONS", MIGRATIONS[:8])  # the collector as it was at version 8
    monkeypatch.setattr(PostgresStore, "_insert_returning", Writes._insert_returning)
    monkeypatch.setattr(PostgresStore, "_after_migrate", lambda self, cur: None)
    old = open_store(PG_URL, schema)
    assert old.rows("SELECT MAX(version) AS v FROM schema_version")[0]["v"] == 8
    batch = accept(events(20) + events(5, start_seq=20, kind="device.health"))
    old.write_batch(batch)  # version 8: one plain events table, primary key id
    with old.write() as cur:  # and rows stored days ago
        cur.execute("UPDATE events SET stored = stored - 3 * 86400 WHERE seq < 10")
    before = reads(old)
    old.close()
    monkeypatch.undo()
    new = open_store(PG_URL, schema)
    assert new.rows("SELECT MAX(version) AS v FROM schema_version")[0]["v"] == len(MIGRATIONS) == 9
    assert reads(new) == before
    found = parts(new)
    assert found[0].name == "events_legacy" and found[0].low == -float("inf")
    assert found[0].high == (int(max(e["stored"] for e in before["events"]) // DAY) + 1) * DAY
    assert set(partition_of(new).values()) == {"events_legacy"}
    assert new.rows("SELECT COUNT(*) AS n FROM event_ids")[0]["n"] == 25
    again = new.write_batch(batch[:3] + accept(events(2, start_seq=100)))  # old ids redelivered, two new
    assert (again.inserted, again.duplicates) == (2, 3)
    assert new.rows("SELECT COUNT(*) AS n FROM events")[0]["n"] == 27
    assert new.migrate() == 9  # a second start changes nothing
    new.close()


def test_migration_of_an_empty_table_leaves_only_day_partitions(pg: Store) -> None:
    assert all(p.name.startswith("events_2") for p in parts(pg))
    assert pg.rows("SELECT COUNT(*) AS n FROM pg_indexes WHERE tablename = 'events' "
                   "AND schemaname = current_schema()")[0]["n"] == 2  # kind+stored (btree), stored (BRIN)


def test_replicas_creating_the_same_partitions_at_once(pg: Store, schema: str) -> None:
    replicas = [open_store(PG_URL, schema) for _ in range(3)]
    start = time.time() + 40 * DAY  # days nobody created yet
    errors: list[Exception] = []

    def create(store: Store) -> None:
        try:
            store.ensure_partitions(start, start + 5 * DAY)  # type: ignore[attr-defined]
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len([p for p in parts(pg) if p.low >= start - DAY]) == 6  # 5 days from mid-day touch 6 partitions
    for r in replicas:
        r.close()
