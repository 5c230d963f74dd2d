"""Home Assistant MQTT discovery against a real Mosquitto: ``smartstore edge run`` on a real video with
``homeassistant.enabled`` leaves, retained, one discovery config per line direction and zone, the line totals and
zone counts the events carried last, and ``offline`` availability after a clean stop; off by default, it publishes
nothing outside its own topics."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.edge.service.helpers import ServiceProcess, Subscriber, edge_config, write_clip
from tests.edge.test_model_versions import runnable
from tools.broker import LocalBroker as Mosquitto


@pytest.fixture(scope="module")
def clip(vtest_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runnable("person-ssdlite", "openvino", "fp16")
    return write_clip(vtest_video, tmp_path_factory.mktemp("video") / "clip.avi", 60)


def retained(port: int, topic: str) -> dict[str, bytes]:
    """The retained messages under ``topic`` now (a fresh subscriber gets them at once)."""
    sub = Subscriber(port, topic)
    time.sleep(1.0)
    sub.close()
    return {t: p for t, p, r in sub.messages if r}


def run(folder: Path, port: int, clip: Path, **overrides: Any) -> list[dict[str, Any]]:
    events = Subscriber(port)
    service = ServiceProcess(folder, edge_config(folder, port, clip, model={"precision": "fp16"}, **overrides))
    assert service.start().wait(300) == 0, service.raw_log()[-3000:]
    found = events.events()
    events.close()
    return found


def test_discovery_configs_and_states(broker: Mosquitto, clip: Path, tmp_path: Path) -> None:
    events = run(tmp_path, broker.port, clip, homeassistant={"enabled": True})
    configs = {t: json.loads(p) for t, p in retained(broker.port, "homeassistant/#").items()}
    node = "smartstore_store-1_edge-1"
    expected = {f"homeassistant/sensor/{node}/entrance_door_{w}/config" for w in ("in", "out")}
    expected.add(f"homeassistant/sensor/{node}/entrance_plaza_occupancy/config")
    assert set(configs) == expected
    for config in configs.values():
        assert config["state_topic"].startswith("smartstore-ha/store-1/edge-1/entrance/")
        assert config["availability_topic"] == "smartstore-ha/store-1/edge-1/availability"
        assert config["device"]["identifiers"] == [node] and config["unique_id"].startswith(node)
    door_in = configs[f"homeassistant/sensor/{node}/entrance_door_in/config"]
    assert door_in["state_class"] == "total_increasing" and door_in["unit_of_measurement"] == "people"

    states = retained(broker.port, "smartstore-ha/#")
    crossings = [e["data"] for e in events if e["kind"] == "footfall.crossing"]
    assert crossings, "the clip has crossings"
    assert states["smartstore-ha/store-1/edge-1/entrance/door/in"] == str(crossings[-1]["count_in"]).encode()
    assert states["smartstore-ha/store-1/edge-1/entrance/door/out"] == str(crossings[-1]["count_out"]).encode()
    live = [e["data"]["count"] for e in events if e["kind"] == "zone.occupancy" and "peak" not in e["data"]]
    assert states["smartstore-ha/store-1/edge-1/entrance/plaza/occupancy"] == str(live[-1]).encode()
    assert states["smartstore-ha/store-1/edge-1/availability"] == b"offline"  # a clean stop says so


def test_off_by_default(broker: Mosquitto, clip: Path, tmp_path: Path) -> None:
    assert run(tmp_path, broker.port, clip)  # events were published as usual
    outside = {t for t in retained(broker.port, "#") if not t.startswith("smartstore/")}
    assert outside == set()
