"""The ingest load test, small: 50 devices for 5 s (20 times faster than real), 2 collector replicas, PostgreSQL.

Every event whose PUBACK came back is stored exactly once, both replicas take a share, and every device's last
receipt covers all it sent (``tools/bench/ingest_load.py`` runs the same at 1,000 devices).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from paho.mqtt.properties import Properties

from collector.store import open_store
from contract.events import validate
from contract.topics import event_topic
from tests.collector.conftest import PG_URL, postgres_reachable
from tools.bench.ingest_load import LoadSpec, run_load
from tools.bench.load_devices import LoadDevice, Mix
from tools.broker import mosquitto_binary


@pytest.fixture
def schema() -> Iterator[str]:
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    name = f"test_load_{uuid.uuid4().hex[:10]}"
    yield name
    cleanup = open_store(PG_URL, name, migrate=False)
    cleanup.drop_schema()  # type: ignore[attr-defined]
    cleanup.close()


class Recorder:
    """Stands in for ``paho.Client.publish``: keeps what would have gone to the broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, topic: str, payload: bytes, qos: int, properties: Properties) -> SimpleNamespace:
        self.sent.append((topic, payload, dict(properties.UserProperty)))  # type: ignore[attr-defined]
        return SimpleNamespace(mid=len(self.sent))


def test_the_simulated_devices_send_what_an_edge_sends() -> None:
    """Every kind passes the contract's schemas, on its own topic, with the outbox id and floor of an edge."""
    device = LoadDevice("s1", "d1", 1, random.Random(0))
    recorder = Recorder()
    device.client.publish = recorder  # type: ignore[method-assign,assignment]
    device.burst(Mix(burst_max=1))
    device.health()
    device.restocked(device.out_of_stock())
    kinds = []
    for topic, payload, props in recorder.sent:
        event = json.loads(payload)
        validate(event)
        assert topic == event_topic("s1", "d1", event["kind"])
        assert props == {"outbox": device.outbox, "floor": "0"}
        kinds.append(event["kind"])
    assert kinds == ["footfall.crossing", "zone.occupancy", "device.health", "shelf.out_of_stock", "shelf.restocked"]
    assert [json.loads(p)["seq"] for _, p, _ in recorder.sent] == [0, 1, 2, 3, 4]


def test_fifty_devices_two_replicas_no_loss_no_duplicate(schema: str, tmp_path: Path) -> None:
    figures = run_load(LoadSpec(devices=50, stores=10, processes=2, duration_s=5, speed=20), PG_URL, schema,
                       tmp_path)
    assert figures["published"] > 300, figures
    assert figures["acked"] == figures["published"] and figures["unacked"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["stored"] == figures["acked"], figures
    assert figures["duplicate_ids"] == 0 and figures["duplicate_seqs"] == 0, figures
    assert figures["dead_letters"] == 0, figures
    assert figures["devices_fully_receipted"] == 50, figures
    assert figures["device_statuses"] == 50, figures
    shares = [r["share"] for r in figures["replicas"].values()]
    assert len(shares) == 2 and min(shares) > 0.2, figures
    assert figures["latency_s"]["p95"] < 5.0, figures
