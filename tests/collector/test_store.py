"""The store on SQLite and PostgreSQL: deduplication, roll-ups, shelf intervals, sales, retention, migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.sales import SalesInputError, read_sales
from collector.store import Store, open_store
from collector.store.schema import MIGRATIONS
from collector.validation import Accepted, Rejected, check_event, check_status
from contract import Event, status_payload, status_topic
from tests.collector.conftest import crossings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def accept(events: list[Event]) -> list[Accepted]:
    out = [check_event(e.topic(), e.to_json()) for e in events]
    assert all(isinstance(a, Accepted) for a in out), out
    return out  # type: ignore[return-value]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_dedup_and_footfall_rollup(store: Store) -> None:
    events = [Event("footfall.crossing", "s1", "d1", i, {"line": "door", "direction": "in" if i % 4 else "out",
                                                          "track_id": i}, camera="cam1", ts=at(i)) for i in range(150)]
    first = store.write_batch(accept(events[:100]))
    again = store.write_batch(accept(events))  # 100 redelivered + 50 new, and one id twice in a batch
    assert (first.inserted, first.duplicates) == (100, 0)
    assert (again.inserted, again.duplicates) == (50, 100)
    assert store.write_batch(accept(events[:1] * 3)).inserted == 0
    hourly = store.footfall_series("s1")
    assert [p["t"] for p in hourly] == [T0.timestamp() + h * 3600 for h in range(3)]
    assert sum(p["in"] for p in hourly) == sum(1 for i in range(150) if i % 4)
    assert sum(p["out"] for p in hourly) == sum(1 for i in range(150) if not i % 4)
    assert hourly[0]["in"] + hourly[0]["out"] == 60
    daily = store.footfall_series("s1", bucket="day", per_camera=True)
    assert len(daily) == 1 and daily[0]["camera"] == "cam1" and daily[0]["in"] + daily[0]["out"] == 150
    assert store.footfall_series("s1", start=T0.timestamp() + 3600, end=T0.timestamp() + 7200)[0]["t"] == \
        T0.timestamp() + 3600
    [device] = store.devices("s1")
    assert (device["events"], device["seq_gaps"], device["state"]) == (150, 0, "unknown")


def test_seq_gaps_and_status(store: Store) -> None:
    events = crossings(20, device="d9")
    store.write_batch(accept([e for e in events if e.seq not in (5, 6, 7)]))
    assert store.devices()[0]["seq_gaps"] == 3
    store.write_batch(accept([events[6]]))  # a late arrival fills part of the gap
    assert store.devices()[0]["seq_gaps"] == 2
    online = check_status(status_topic("s1", "d9"), status_payload("s1", "d9", "online", at(0)))
    will = check_status(status_topic("s1", "d9"), status_payload("s1", "d9", "offline", at(-0.01)))
    store.write_batch([], [], [online])
    assert store.devices()[0]["state"] == "online"
    store.write_batch([], [], [will])  # a last will carries its session's connect time: received last, it wins
    assert store.devices()[0]["state"] == "offline"
    assert store.counts()["seq_gaps"] == 2


def test_occupancy_dwell_and_shelf_intervals(store: Store) -> None:
    ev = [
        Event("zone.occupancy", "s1", "d1", 0, {"zone": "plaza", "count": 3}, camera="c", ts=at(1)),
        Event("zone.occupancy", "s1", "d1", 1, {"zone": "plaza", "count": 7}, camera="c", ts=at(2)),
        Event("zone.occupancy", "s1", "d1", 2, {"zone": "plaza", "count": 5}, camera="c", ts=at(3)),
        Event("zone.visit", "s1", "d1", 3, {"zone": "plaza", "track_id": 1, "dwell_s": 30.0}, camera="c", ts=at(4)),
        Event("zone.visit", "s1", "d1", 4, {"zone": "plaza", "track_id": 2, "dwell_s": 90.0}, camera="c", ts=at(5)),
        Event("shelf.out_of_stock", "s1", "d1", 5, {"shelf": "A", "slot": "3", "sku": "milk"}, camera="s", ts=at(6)),
        Event("shelf.out_of_stock", "s1", "d1", 6, {"shelf": "A", "slot": "3", "sku": "milk"}, camera="s", ts=at(7)),
        Event("shelf.out_of_stock", "s1", "d1", 7, {"shelf": "B", "slot": "1"}, camera="s", ts=at(8)),
    ]
    store.write_batch(accept(ev))
    assert store.occupancy_live("s1") == [{"camera": "c", "zone": "plaza", "count": 5, "ts": at(3).timestamp()}]
    [stats] = store.zone_stats("s1")
    assert stats["occupancy_mean"] == pytest.approx(5.0) and stats["occupancy_peak"] == 7
    assert stats["visits"] == 2 and stats["dwell_mean_s"] == pytest.approx(60.0) and stats["dwell_max_s"] == 90.0
    alerts = store.shelf_alerts("s1")
    assert sorted((a["shelf"], a["slot"]) for a in alerts) == [("A", "3"), ("B", "1")]  # a repeat opens nothing new
    restock = Event("shelf.restocked", "s1", "d1", 8, {"shelf": "A", "slot": "3", "empty_s": 240.0}, camera="s",
                    ts=at(10))
    orphan = Event("shelf.restocked", "s1", "d1", 9, {"shelf": "C", "slot": "2", "empty_s": 60.0}, camera="s",
                   ts=at(11))
    store.write_batch(accept([restock, orphan]))
    assert [(a["shelf"], a["slot"]) for a in store.shelf_alerts("s1")] == [("B", "1")]
    closed = {(a["shelf"], a["slot"]): a for a in store.shelf_alerts("s1", open_only=False)}
    assert closed[("A", "3")]["end"] - closed[("A", "3")]["start"] == pytest.approx(240.0)
    assert closed[("C", "2")]["start"] == pytest.approx(at(10).timestamp())
    every = store.shelf_alerts("s1", open_only=False)
    pages, before = [], None
    while page := store.shelf_alerts("s1", open_only=False, limit=1, before=before):
        pages.append(page[0])
        before = page[0]["id"]
    assert pages == every and len(every) == 3  # one at a time, newest first, nothing skipped or repeated


def test_pos_sales_and_dead_letters(store: Store) -> None:
    sale = Event("pos.sale", "s1", "till-1", 0, {"sku": "bread", "qty": 2, "price": 1.2, "receipt": "r-9"}, ts=at(0))
    bad = Rejected("bad_json", "JSONDecodeError", "smartstore/v1/s1/x/y", b"\x00\xff{")
    store.write_batch(accept([sale, sale]), [bad])
    assert [(s["sku"], s["qty"], s["receipt"]) for s in store.sales("s1")] == [("bread", 2.0, "r-9")]
    assert store.baskets("s1") == [{"transaction_id": "s1/r-9", "item": "bread", "timestamp": at(0).timestamp(),
                                    "store": "s1"}]
    [letter] = store.dead_letters()
    assert letter["payload"] == b"\x00\xff{" and letter["reason"] == "bad_json"


def test_import_sales_csv(store: Store, tmp_path: Path) -> None:
    csv = tmp_path / "sales.csv"
    csv.write_text("Date,Time,Transaction,Item\n30-10-2016,09:58:11,1,Bread\n30-10-2016,10:05:34,2,Scandinavian\n"
                   "30-10-2016,10:05:34,2,Scandinavian\n")
    rows = list(read_sales(csv, "bakery"))
    assert store.import_sales(rows) == 3
    assert store.import_sales(list(read_sales(csv, "bakery"))) == 0  # idempotent re-import
    sales = store.sales("bakery")
    assert [s["sku"] for s in sales] == ["Bread", "Scandinavian", "Scandinavian"]
    assert sales[0]["ts"] == datetime(2016, 10, 30, 9, 58, 11, tzinfo=UTC).timestamp()
    assert len({b["transaction_id"] for b in store.baskets("bakery")}) == 2
    (tmp_path / "bad.csv").write_text("sku,ts,qty\nmilk,2026-01-01T10:00:00Z,many\n")
    with pytest.raises(SalesInputError, match=r"bad.csv line 2: could not convert string to float: 'many'"):
        list(read_sales(tmp_path / "bad.csv", "s1"))
    (tmp_path / "nostore.csv").write_text("sku,ts\nmilk,2026-01-01T10:00:00Z\n")
    with pytest.raises(SalesInputError, match="no store column"):
        list(read_sales(tmp_path / "nostore.csv"))


def test_bakery_history_imports(shared_data: Path, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "bakery.db"))
    rows = list(read_sales(shared_data / "bakery" / "BreadBasket_DMS.csv", "bakery"))
    assert store.import_sales(rows) == len(rows) > 20000
    assert len({b["transaction_id"] for b in store.baskets("bakery")}) > 9000


def test_retention_prunes_old_rows(store: Store) -> None:
    old = Event("footfall.crossing", "s1", "d1", 0, {"line": "l", "direction": "in", "track_id": 1},
                ts=datetime(2020, 1, 1, tzinfo=UTC))
    store.write_batch(accept([old]))
    now = datetime.now(UTC).timestamp()
    assert store.prune(events_days=1, dead_letters_days=1, rollups_days=3650, now=now)["events"] == 0
    deleted = store.prune(events_days=1, dead_letters_days=1, rollups_days=30, now=now + 2 * 86400)
    assert deleted["events"] == 1 and deleted["footfall_hourly"] == 1


def test_migrations_are_idempotent(store_url: tuple[str, str | None]) -> None:
    a = open_store(*store_url)
    b = open_store(*store_url)  # a second replica starting on the same database
    assert a.migrate() == b.migrate() == len(MIGRATIONS)
    assert a.rows("SELECT COUNT(*) AS n FROM schema_version")[0]["n"] == len(MIGRATIONS)
    a.close()
    b.close()
