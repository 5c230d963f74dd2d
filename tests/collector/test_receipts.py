"""End-to-end receipts against a real Mosquitto (the shipped config): an edge outbox row leaves only once the
collector has stored it, whatever the broker does.

The drills restart the broker for ``SMARTSTORE_OUTAGE_S`` seconds (default 30) with the collector on its default
shared subscription while the edge publishes, and bring the collector back ``SMARTSTORE_COLLECTOR_LATE_S``
seconds (default 60) after the broker; a replica stopped for good must not strand its share.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest

from collector.service import SMARTSTORE
from collector.store import Store
from contract import Event, load_schema, receipt_topic
from edge.config import Backoff, MqttConfig
from edge.mqtt import RECEIPTS_SEEN, Publisher
from edge.outbox import Outbox
from tests.collector.conftest import RunningIngestor, collector_config, wait_for
from tests.edge.service.helpers import Subscriber
from tools.broker import LocalBroker as Mosquitto

REPO = Path(__file__).resolve().parents[2]
OUTAGE_S = float(os.environ.get("SMARTSTORE_OUTAGE_S", "30"))
LATE_S = float(os.environ.get("SMARTSTORE_COLLECTOR_LATE_S", "60"))


class Edge:
    """The edge's publishing half (outbox + publisher) with a producer thread enqueueing ``rate`` events/s."""

    def __init__(self, tmp: Path, port: int, device: str = "edge-1", rate: float = 20.0, **mqtt: object) -> None:
        self.device = device
        self.outbox = Outbox(tmp / f"{device}.db")
        settings: dict[str, object] = {"port": port, "host": "127.0.0.1", "reconnect": Backoff(min_s=0.2, max_s=2.0),
                                       "receipt_timeout_s": 2.0, "resend_max_s": 8.0, **mqtt}
        self.publisher = Publisher(MqttConfig.model_validate(settings), "s1", device, self.outbox)
        self.rate = rate
        self.produced = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)

    def start(self, produce: bool = True) -> Edge:
        self.publisher.start()
        if produce:
            self._thread.start()
        return self

    def _produce(self) -> None:
        while not self._stop.wait(1 / self.rate):
            self.enqueue(1)

    def enqueue(self, n: int) -> None:
        self.outbox.enqueue([Event("footfall.crossing", "s1", self.device, 0,
                                   {"line": "door", "direction": "in", "track_id": self.produced + i},
                                   camera="cam1") for i in range(n)])
        self.produced += n
        self.publisher.notify()

    def stop_producing(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        self.stop_producing()
        self.publisher.stop(flush_timeout=1)
        self.outbox.close()


@pytest.fixture
def edges(tmp_path: Path) -> Iterator[Callable[..., Edge]]:
    made: list[Edge] = []

    def make(port: int, **kwargs: object) -> Edge:
        edge = Edge(tmp_path, port, **kwargs)  # type: ignore[arg-type]
        made.append(edge)
        return edge

    yield make
    for edge in made:
        edge.close()


def seqs(store: Store, device: str = "edge-1") -> list[int]:
    return [int(r["seq"]) for r in store.rows("SELECT seq FROM events WHERE device = ? ORDER BY seq", (device,))]


def assert_exactly_once(store: Store, produced: int, device: str = "edge-1") -> None:
    got = seqs(store, device)
    assert len(got) == produced, f"{len(got)} stored of {produced}"
    assert got == list(range(produced)), "a seq gap or a duplicate"
    assert [d["seq_gaps"] for d in store.devices() if d["device"] == device] == [0]


def settle(edge: Edge, store: Store, timeout: float) -> float:
    """Wait until every produced event is stored and the edge's outbox is empty; returns the seconds it took."""
    started = time.monotonic()
    wait_for(lambda: len(seqs(store, edge.device)) >= edge.produced and len(edge.outbox) == 0, timeout,
             what=f"all {edge.produced} events stored and receipted")
    return time.monotonic() - started


def test_rows_leave_the_outbox_only_by_receipt(broker: Mosquitto, tmp_path: Path,
                                               ingestor_factory: Callable[..., RunningIngestor],
                                               edges: Callable[..., Edge]) -> None:
    edge = edges(broker.port, receipts="on").start(produce=False)
    edge.enqueue(50)
    time.sleep(3)  # no collector: the broker acknowledges, nothing is receipted, the rows stay (and are re-sent)
    stats = edge.outbox.stats()
    assert stats.pending == 50 and stats.unreceipted == 50 and stats.receipt_seq is None
    assert edge.publisher.stats.resent > 0
    watcher = Subscriber(broker.port, topic=receipt_topic("s1", "edge-1"))
    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20))
    settle(edge, running.store, 30)
    assert_exactly_once(running.store, 50)
    assert edge.outbox.stats().receipt_seq == 49 and edge.outbox.stats().unreceipted == 0
    assert watcher.wait_for(lambda s: any(json.loads(p)["seq"] == 49 for _, p, _ in s.messages))
    receipt = json.loads(watcher.messages[-1][1])
    jsonschema.validate(receipt, load_schema("receipt"))
    assert receipt["outbox"] == edge.outbox.outbox_id and watcher.messages[-1][2] is False  # live copy
    watcher.close()
    late = Subscriber(broker.port, topic=receipt_topic("s1", "edge-1"))  # retained for an edge that reconnects
    assert late.wait_for(lambda s: any(r and json.loads(p)["seq"] == 49 for _, p, r in s.messages))
    late.close()


def test_auto_keeps_broker_acks_until_a_collector_sends_receipts(broker: Mosquitto, tmp_path: Path,
                                                                ingestor_factory: Callable[..., RunningIngestor],
                                                                edges: Callable[..., Edge]) -> None:
    edge = edges(broker.port).start(produce=False)  # receipts: auto (the default)
    edge.enqueue(20)
    wait_for(lambda: len(edge.outbox) == 0, 10, what="PUBACK deletes without a receipt-capable collector")
    assert not edge.publisher.end_to_end
    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20))
    edge.enqueue(20)
    wait_for(lambda: edge.publisher.end_to_end, 10, what="the first receipt to switch the edge to end to end")
    assert edge.outbox.get_flag(RECEIPTS_SEEN)
    wait_for(lambda: len(edge.outbox) == 0 and len(seqs(running.store)) == 20, 20, what="the second 20 stored")
    assert seqs(running.store) == list(range(20, 40))  # the first 20 went to no subscriber, as before


def test_a_new_outbox_file_is_not_settled_by_the_old_receipt(store: Store) -> None:
    from collector.validation import check_event

    def accepted(seq: int, outbox: str, floor: int) -> object:
        event = Event("footfall.crossing", "s1", "d1", seq, {"line": "l", "direction": "in", "track_id": seq})
        result = check_event(event.topic(), event.to_json())
        from dataclasses import replace

        return replace(result, outbox=outbox, floor=floor)  # type: ignore[type-var]

    old, new = "a" * 32, "b" * 32
    result = store.write_batch([accepted(s, old, 0) for s in range(10)])  # type: ignore[misc]
    assert [(r.outbox, r.seq) for r in result.receipts] == [(old, 9)]
    result = store.write_batch([accepted(s, old, 0) for s in (12, 13)])  # type: ignore[misc]
    assert [r.seq for r in result.receipts] == [9]  # 10 and 11 missing: the receipt waits
    result = store.write_batch([accepted(11, old, 11)])  # type: ignore[misc]
    assert [r.seq for r in result.receipts] == [13]  # floor 11: the edge dropped 10; 12 and 13 were waiting
    result = store.write_batch([accepted(s, new, 0) for s in range(3)])  # type: ignore[misc]
    assert [(r.outbox, r.seq) for r in result.receipts] == [(new, 2)]  # a fresh count, not 13


def test_a_returning_collector_gets_the_backlog_at_once(broker: Mosquitto, tmp_path: Path,
                                                        ingestor_factory: Callable[..., RunningIngestor],
                                                        edges: Callable[..., Edge]) -> None:
    from collector.ingest import retire_session

    config = collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20)
    first = ingestor_factory(config)
    edge = edges(broker.port, receipts="on", receipt_timeout_s=1.0, resend_max_s=120.0).start(produce=False)
    edge.enqueue(20)
    settle(edge, first.store, 15)
    first.stop()
    assert retire_session(config)  # its queue is gone: what the edge publishes now reaches nobody
    edge.enqueue(30)
    time.sleep(12)  # re-sends back off: the next probe is up to a minute away
    assert len(edge.outbox) == 30 and edge.publisher.stats.resent > 0
    back = ingestor_factory(config)  # publishes the stored receipts on connect: the edge re-sends at once
    started = time.monotonic()
    settle(edge, back.store, 30)
    assert time.monotonic() - started < 6
    assert_exactly_once(back.store, 50)


def test_out_of_order_commits_wait_for_the_hole_below_them(store: Store) -> None:
    from dataclasses import replace

    from collector.validation import Accepted, check_event

    def accepted(seq: int) -> Accepted:
        event = Event("footfall.crossing", "s1", "d1", seq, {"line": "l", "direction": "in", "track_id": seq})
        result = check_event(event.topic(), event.to_json())
        assert isinstance(result, Accepted)
        return replace(result, outbox="c" * 32, floor=0)

    events = [accepted(s) for s in range(200)]
    odd = store.write_batch(events[1::2])  # two replicas, round robin
    assert [r.seq for r in odd.receipts] == [-1] and store.counts()["unreceipted"] == 100
    even = store.write_batch(events[::2])
    assert [r.seq for r in even.receipts] == [199] and store.counts()["unreceipted"] == 0
    again = store.write_batch(events[150:])  # re-sent: duplicates, the same receipt
    assert [r.seq for r in again.receipts] == [199] and again.inserted == 0


def test_broker_restart_with_shared_subscription_loses_nothing(broker: Mosquitto, tmp_path: Path,
                                                               ingestor_factory: Callable[..., RunningIngestor],
                                                               edges: Callable[..., Edge]) -> None:
    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port))  # default: $share
    assert running.ingestor.config.mqtt.shared
    edge = edges(broker.port).start()
    time.sleep(3)
    broker.stop()
    time.sleep(OUTAGE_S)
    broker.start()
    time.sleep(5)
    edge.stop_producing()
    drain = settle(edge, running.store, 120)
    assert_exactly_once(running.store, edge.produced)
    print(f"broker restart {OUTAGE_S:.0f} s: {edge.produced} events, stored once, drained {drain:.1f} s after the "
          f"producer stopped, {edge.publisher.stats.resent} re-sent")


def test_collector_back_long_after_the_broker_loses_nothing(broker: Mosquitto, tmp_path: Path,
                                                            ingestor_factory: Callable[..., RunningIngestor],
                                                            edges: Callable[..., Edge]) -> None:
    config = collector_config(str(tmp_path / "c.db"), None, broker.port)
    running = ingestor_factory(config)
    edge = edges(broker.port).start()
    time.sleep(3)
    running.stop()
    broker.stop()
    time.sleep(OUTAGE_S)
    broker.start()
    time.sleep(LATE_S)
    back = ingestor_factory(config)  # the same client id: its session (without the $share subscription) is back
    time.sleep(3)
    edge.stop_producing()
    drain = settle(edge, back.store, 120)
    assert_exactly_once(back.store, edge.produced)
    print(f"collector back {LATE_S:.0f} s after the broker: {edge.produced} events, stored once, drained "
          f"{drain:.1f} s after the producer stopped, {edge.publisher.stats.resent} re-sent")


def test_replica_stopped_for_good_strands_nothing(broker: Mosquitto, tmp_path: Path,
                                                  ingestor_factory: Callable[..., RunningIngestor],
                                                  edges: Callable[..., Edge]) -> None:
    url = str(tmp_path / "c.db")
    a = ingestor_factory(collector_config(url, None, broker.port, client_id="replica-a", batch_ms=20))
    b_config = collector_config(url, None, broker.port, client_id="replica-b", batch_ms=20)
    b_config = b_config.model_copy(update={"mqtt": b_config.mqtt.model_copy(update={"session_expiry_s": 5})})
    b = ingestor_factory(b_config)
    edge = edges(broker.port).start()
    time.sleep(2)
    b.stop()  # for good: its session keeps taking its round-robin share until it expires
    time.sleep(6)
    edge.stop_producing()
    stopped = time.monotonic()
    settle(edge, a.store, 40)
    bound = time.monotonic() - stopped
    assert_exactly_once(a.store, edge.produced)
    assert bound < 40
    print(f"replica stopped for good: {edge.produced} events stored once, {bound:.1f} s after the last one")


def test_retire_ends_a_replica_session_at_once(broker: Mosquitto, tmp_path: Path,
                                               ingestor_factory: Callable[..., RunningIngestor],
                                               edges: Callable[..., Edge]) -> None:
    url = str(tmp_path / "c.db")
    a = ingestor_factory(collector_config(url, None, broker.port, client_id="replica-a", batch_ms=20))
    b = ingestor_factory(collector_config(url, None, broker.port, client_id="replica-b", batch_ms=20))
    b.stop()  # 600 s session by default: its share would wait that long
    out = subprocess.run([*SMARTSTORE, "collector", "retire", "--client-id", "replica-b", "--broker",
                          f"127.0.0.1:{broker.port}"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "replica-b" in out.stdout
    edge = edges(broker.port, receipts="off").start(produce=False)  # broker acks only: nothing re-sent
    edge.enqueue(40)
    wait_for(lambda: len(seqs(a.store)) == 40, 15, what="replica a to get every event")
    assert_exactly_once(a.store, 40)


def test_retire_errors_are_one_line() -> None:
    from tools.broker import free_port

    out = subprocess.run([*SMARTSTORE, "collector", "retire", "--client-id", "gone", "--broker",
                          f"127.0.0.1:{free_port()}"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "cannot reach the broker at 127.0.0.1:" in out.stderr and "Connection refused" in out.stderr


def test_one_batch_advances_many_devices_each_by_its_own_state(store: Store) -> None:
    """Devices in order, with holes, with a floor, with a new outbox file and new ones, all in one batch."""
    from dataclasses import replace

    from collector.validation import Accepted, check_event

    def accepted(device: str, seq: int, outbox: str = "d" * 32, floor: int = 0) -> Accepted:
        event = Event("footfall.crossing", "s1", device, seq, {"line": "l", "direction": "in", "track_id": seq})
        result = check_event(event.topic(), event.to_json())
        assert isinstance(result, Accepted)
        return replace(result, outbox=outbox, floor=floor)

    first = [accepted(f"d{k:03d}", s) for k in range(300) for s in range(5) if (k % 3, s) != (1, 2)]
    receipts = {r.device: r.seq for r in store.write_batch(first).receipts}
    assert receipts == {f"d{k:03d}": 1 if k % 3 == 1 else 4 for k in range(300)}
    assert store.counts()["unreceipted"] == 200  # seqs 3 and 4 of every third device wait for seq 2
    second = ([accepted(f"d{k:03d}", 2) for k in range(1, 300, 3)]  # the holes filled
              + [accepted(f"d{k:03d}", 7, floor=7) for k in range(0, 300, 3)]  # 5 and 6 dropped by the edge
              + [accepted(f"d{k:03d}", 0, outbox="e" * 32) for k in range(2, 300, 3)]  # a new outbox file
              + [accepted("new", 1)])  # a new device, seq 0 not stored yet
    receipts = {r.device: (r.outbox[0], r.seq) for r in store.write_batch(second).receipts}
    assert receipts == {**{f"d{k:03d}": ("d", 7 if k % 3 == 0 else 4) for k in range(300) if k % 3 != 2},
                        **{f"d{k:03d}": ("e", 0) for k in range(2, 300, 3)}, "new": ("d", -1)}
    assert store.counts()["unreceipted"] == 1  # only the new device's seq 1
