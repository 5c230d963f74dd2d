"""Ingest sanity limits: a seq far beyond the device's, a time stamp far from now, oversized payloads; the gap
counter cannot be poisoned by one event; the dead-letter listing is paginated and size-capped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from collector.api import create_app
from collector.store import Store, open_store
from collector.validation import SEQ_WINDOW, TS_RANGE, Accepted, Rejected, TsLimits, check_event
from contract import Event
from tests.collector.conftest import RunningIngestor, collector_config, publish_all, publisher, wait_for
from tools.broker import LocalBroker as Mosquitto

AUTH = {"Authorization": "Bearer test-token-123"}


def crossing(seq: int, ts: datetime | None = None, device: str = "d1") -> Event:
    return Event("footfall.crossing", "s1", device, seq, {"line": "door", "direction": "in", "track_id": seq},
                 camera="c1", ts=ts or datetime.now(UTC))


def accepted(event: Event, floor: int | None = None) -> Accepted:
    result = check_event(event.topic(), event.to_json())
    assert isinstance(result, Accepted)
    return result if floor is None else replace(result, outbox="e" * 32, floor=floor)


def gaps(store: Store) -> int:
    return int(store.counts()["seq_gaps"])


def test_seq_beyond_the_window_is_dead_lettered_and_cannot_poison_the_gaps(store: Store) -> None:
    store.write_batch([accepted(crossing(s)) for s in range(10)])
    result = store.write_batch([accepted(crossing(2**53)), accepted(crossing(10))])
    assert (result.inserted, result.dead_letters) == (1, 1)
    assert gaps(store) == 0 and store.devices()[0]["seq_max"] == 10
    letter = store.dead_letters()[0]
    assert letter["reason"] == SEQ_WINDOW and "beyond the device's highest seq 9 plus" in letter["detail"]
    near = store.write_batch([accepted(crossing(10 + store.seq_window))])  # at the edge of the window: accepted
    assert near.inserted == 1


def test_a_new_device_is_measured_from_its_floor(store: Store) -> None:
    result = store.write_batch([accepted(crossing(2**53 - 1), floor=0)])
    assert result.dead_letters == 1 and store.dead_letters()[0]["reason"] == SEQ_WINDOW
    result = store.write_batch([accepted(crossing(5_000_000), floor=5_000_000)])  # an edge that dropped a lot
    assert result.inserted == 1 and gaps(store) == 0


def test_time_stamps_far_from_the_receive_time_are_dead_lettered() -> None:
    limits = TsLimits(future_s=3600, past_s=86400)
    now = datetime.now(UTC)
    for ts, ok in ((now, True), (now + timedelta(minutes=30), True), (now - timedelta(hours=23), True),
                   (datetime(9999, 1, 1, tzinfo=UTC), False), (now + timedelta(hours=2), False),
                   (now - timedelta(days=2), False)):
        event = crossing(1, ts)
        result = check_event(event.topic(), event.to_json(), ts_limits=limits)
        assert isinstance(result, Accepted) == ok, (ts, result)
        if not ok:
            assert isinstance(result, Rejected) and result.reason == TS_RANGE and "receive time" in result.detail


def test_oversized_payloads_keep_only_a_capped_prefix(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "c.db"))
    store.dead_letter_bytes = 1024
    big = b"x" * 300_000
    store.write_batch([], [check_event("smartstore/v1/s1/d1/footfall/crossing", big) for _ in range(20)])
    letters = store.dead_letters(limit=100)
    assert len(letters) == 20 and all(len(r["payload"]) == 1024 for r in letters)
    assert "300000 bytes > 65536" in letters[0]["detail"] and "first 1024 of 300000 bytes" in letters[0]["detail"]
    size = store.rows("SELECT SUM(LENGTH(payload)) AS n FROM dead_letters")[0]["n"]
    assert size == 20 * 1024
    store.close()


def test_dead_letter_listing_is_paginated_and_capped(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "c.db"))
    store.write_batch([], [check_event(f"t/{i}", b"{" + b"y" * 3000) for i in range(250)])
    client = TestClient(create_app(store, "test-token-123"))
    seen: list[int] = []
    before: int | None = None
    while True:
        params: dict[str, int] = {"limit": 100, "payload_chars": 200}
        if before is not None:
            params["before"] = before
        page = client.get("/api/v1/dead-letters", params=params, headers=AUTH).json()
        if not page:
            break
        assert len(page) <= 100 and all(len(r["payload"]) == 200 and r["payload_cut"] for r in page)
        seen += [r["id"] for r in page]
        before = page[-1]["id"]
    assert len(seen) == len(set(seen)) == 250 and seen == sorted(seen, reverse=True)
    assert client.get("/api/v1/dead-letters", params={"limit": 501}, headers=AUTH).status_code == 422
    assert client.get("/docs").status_code == 404  # off by default: Swagger UI would need a CDN
    assert client.get("/openapi.json").status_code == 200
    store.close()


def test_limits_over_mqtt(broker: Mosquitto, tmp_path: Path,
                          ingestor_factory: Callable[..., RunningIngestor]) -> None:
    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20))
    pub = publisher(broker.port)
    good = [crossing(s) for s in range(5)]
    bad = [crossing(2**53), crossing(6, datetime(9999, 1, 1, tzinfo=UTC))]
    publish_all(pub, [(e.topic(), e.to_json()) for e in [*good, *bad]])
    wait_for(lambda: len(running.store.dead_letters()) == 2 and running.store.counts()["events"] == 5, 15,
             what="5 stored, 2 dead-lettered")
    assert sorted(r["reason"] for r in running.store.dead_letters()) == [SEQ_WINDOW, TS_RANGE]
    assert gaps(running.store) == 0
    metrics = running.ingestor.metrics.render(running.store.counts())
    assert 'smartstore_collector_dead_letters_total{reason="seq_window"} 1' in metrics
    pub.loop_stop()
