"""MQTT ingest against a real Mosquitto: round trip, replicas on a shared subscription, kill -9, hostile payloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from collector.service import SMARTSTORE
from collector.store import Store, open_store
from collector.validation import REASONS
from contract import Event, status_payload, status_topic
from tests.collector.conftest import (
    RunningIngestor,
    collector_config,
    crossings,
    publish_all,
    publisher,
    wait_for,
)
from tools.broker import LocalBroker as Mosquitto

REPO = Path(__file__).resolve().parents[2]


def stored(store: Store) -> int:
    return int(store.rows("SELECT COUNT(*) AS n FROM events")[0]["n"])


def test_round_trip_status_and_dead_letters(broker: Mosquitto, store_url: tuple[str, str | None],
                                            ingestor_factory: Callable[..., RunningIngestor]) -> None:
    config = collector_config(*store_url, broker.port, batch_ms=20)
    pub = publisher(broker.port)
    publish_all(pub, [(status_topic("s1", "cam-box-1"), status_payload("s1", "cam-box-1", "online"))], retain=True)
    running = ingestor_factory(config)  # connects after the retained status was published
    events = crossings(300)
    hostile = [(events[0].topic(), b"{broken"), ("smartstore/v1/s1/cam-box-1/zone/visit", events[1].to_json()),
               (events[0].topic(), json.dumps({**events[2].to_dict(), "v": 9}).encode())]
    publish_all(pub, [(e.topic(), e.to_json()) for e in events] + hostile)
    publish_all(pub, [(e.topic(), e.to_json()) for e in events[:50]])  # republished: deduplicated
    store = running.store
    wait_for(lambda: stored(store) == 300 and sum(store.counts()["dead_letters"].values()) == 3, what="ingest")
    running.stop()
    check = open_store(*store_url)
    [device] = check.devices("s1")
    assert (device["state"], device["events"], device["seq_gaps"]) == ("online", 300, 0)
    assert sum(p["in"] + p["out"] for p in check.footfall_series("s1")) == 300
    assert check.counts()["dead_letters"] == {"bad_json": 1, "topic_mismatch": 1, "unknown_version": 1}
    assert running.ingestor.metrics.messages["duplicate"] == 50
    check.close()
    pub.loop_stop()


def test_two_replicas_split_the_load_exactly_once(broker: Mosquitto, store_url: tuple[str, str | None],
                                                  ingestor_factory: Callable[..., RunningIngestor]) -> None:
    a = ingestor_factory(collector_config(*store_url, broker.port, client_id="replica-a", batch_ms=20))
    b = ingestor_factory(collector_config(*store_url, broker.port, client_id="replica-b", batch_ms=20))
    pub = publisher(broker.port)
    events = [e for device in ("d1", "d2", "d3", "d4") for e in crossings(500, device=device)]
    publish_all(pub, [(e.topic(), e.to_json()) for e in events])
    wait_for(lambda: stored(a.store) == len(events), what="both replicas to store every event")
    time.sleep(0.5)
    a.stop()
    b.stop()
    assert a.inserted + b.inserted == len(events) == 2000
    assert min(a.inserted, b.inserted) > 0.2 * len(events), (a.inserted, b.inserted)
    check = open_store(*store_url)
    assert check.rows("SELECT COUNT(DISTINCT id) AS n FROM events")[0]["n"] == 2000
    assert [d["events"] for d in check.devices()] == [500] * 4
    assert sum(p["in"] + p["out"] for p in check.footfall_series("s1")) == 2000
    check.close()
    pub.loop_stop()


def _collector_process(url: str, schema: str | None, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [*SMARTSTORE, "-v", "collector", "run", "--no-api", "--db", url, "--broker",
           f"127.0.0.1:{port}", "--client-id", "collector-k9"]
    if schema:
        cmd += ["--schema", schema]
    return subprocess.Popen(cmd, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_kill_9_during_ingest_loses_and_duplicates_nothing(broker: Mosquitto, store_url: tuple[str, str | None],
                                                            tmp_path: Path) -> None:
    log = tmp_path / "collector.log"
    proc = _collector_process(*store_url, broker.port, log)
    try:
        wait_for(lambda: "connected to" in log.read_text(), what="the collector to connect")
        store = open_store(*store_url)
        pub = publisher(broker.port)
        events = [e for device in ("k1", "k2") for e in crossings(3000, device=device)]
        infos = [pub.publish(e.topic(), e.to_json(), qos=1) for e in events]
        wait_for(lambda: stored(store) >= 1000, what="ingest to be under way")
        os.kill(proc.pid, signal.SIGKILL)  # mid-ingest: some batches committed, some received and not acknowledged
        proc.wait()
        killed_at = stored(store)
        assert killed_at < len(events), "the kill came after everything was stored: nothing was tested"
        for info in infos:
            info.wait_for_publish(timeout=60)
        proc = _collector_process(*store_url, broker.port, log)  # same client id: the session is redelivered
        # 240 s, not 90: once in about six runs under load on PostgreSQL the restarted replica stalls for over 90 s
        # before the rest arrives (cause not found yet, stop 24); the counts below stay exact
        wait_for(lambda: stored(store) == len(events), timeout=240, what="every event after the restart")
        time.sleep(1.0)  # anything redelivered twice would show up now
        assert stored(store) == len(events)
        assert store.rows("SELECT COUNT(DISTINCT id) AS n FROM events")[0]["n"] == len(events)
        assert [(d["device"], d["events"], d["seq_gaps"]) for d in store.devices()] == [("k1", 3000, 0),
                                                                                        ("k2", 3000, 0)]
        assert sum(p["in"] + p["out"] for p in store.footfall_series("s1")) == len(events)  # roll-ups once too
        pub.loop_stop()
        store.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_hostile_payloads_over_mqtt(broker: Mosquitto, tmp_path: Path,
                                    ingestor_factory: Callable[..., RunningIngestor]) -> None:
    """A few hundred malformed messages through the broker, interleaved with good ones: all dead-lettered."""
    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20))
    good = crossings(100)
    topic = good[0].topic()
    hostile: list[tuple[str, bytes]] = []
    for i in range(300):
        body = good[i % 100].to_dict()
        variants = [
            bytes(range(i % 256)), b"\x00" * i, b"[" * (i * 20), json.dumps(body).encode()[: i % 150],
            json.dumps({**body, "seq": -i}).encode(), json.dumps({**body, "data": {"line": "x" * i}}).encode(),
            json.dumps({**body, "id": "Z" * 32}).encode(), json.dumps({**body, "store": "other"}).encode(),
            b"x" * (70000 + i), json.dumps({**body, "v": i + 2}).encode(),
        ]
        hostile.append((topic if i % 7 else "smartstore/v1/s1/cam-box-1/unknown/kind", variants[i % len(variants)]))
    pub = publisher(broker.port)
    mixed = [m for pair in zip(hostile[:100], [(e.topic(), e.to_json()) for e in good], strict=True) for m in pair]
    publish_all(pub, mixed + hostile[100:])
    store = running.store
    wait_for(lambda: sum(store.counts()["dead_letters"].values()) == 300 and stored(store) == 100,
             what="all hostile messages dead-lettered and good ones stored")
    assert running.thread.is_alive()
    assert set(store.counts()["dead_letters"]) <= set(REASONS)
    assert all(r["detail"] for r in store.dead_letters(limit=300))
    pub.loop_stop()


def test_last_will_marks_device_offline(broker: Mosquitto, tmp_path: Path,
                                        ingestor_factory: Callable[..., RunningIngestor]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20))
    edge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-lwt", protocol=mqtt.MQTTv5)
    edge.will_set(status_topic("s1", "edge-lwt"), status_payload("s1", "edge-lwt", "offline"), qos=1, retain=True)
    edge.connect("127.0.0.1", broker.port, keepalive=5)
    edge.loop_start()
    edge.publish(status_topic("s1", "edge-lwt"), status_payload("s1", "edge-lwt", "online"), qos=1,
                 retain=True).wait_for_publish(10)
    event = Event("device.health", "s1", "edge-lwt", 0, {"reason": "startup"})
    edge.publish(event.topic(), event.to_json(), qos=1).wait_for_publish(10)
    wait_for(lambda: [d["state"] for d in running.store.devices("s1")] == ["online"], what="online")
    edge.loop_stop()
    edge._sock_close()  # vanish without DISCONNECT: the broker publishes the last will
    wait_for(lambda: [d["state"] for d in running.store.devices("s1")] == ["offline"], timeout=20, what="offline")


def test_fleet_commands_and_replies_are_not_events(broker: Mosquitto, tmp_path: Path,
                                                   ingestor_factory: Callable[..., RunningIngestor]) -> None:
    """The collector reads ``<prefix>/#``: a device's command and reply topics pass it by (neither stored nor
    dead-lettered), while the events around them are stored."""
    from contract.topics import command_topic, reply_topic

    running = ingestor_factory(collector_config(str(tmp_path / "c.db"), None, broker.port, batch_ms=20))
    good = crossings(20)
    pub = publisher(broker.port)
    fleet = [(command_topic("s1", "cam-box-1"), b'{"id": "c1"}'), (reply_topic("s1", "cam-box-1"), b"{not json")]
    publish_all(pub, fleet + [(e.topic(), e.to_json()) for e in good] + fleet)
    store = running.store
    wait_for(lambda: stored(store) == 20, what="the events stored")
    time.sleep(0.3)  # a batch or two later: nothing else arrives
    assert sum(store.counts()["dead_letters"].values()) == 0 and stored(store) == 20
    pub.loop_stop()
