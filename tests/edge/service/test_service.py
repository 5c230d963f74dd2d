"""``smartstore edge run`` end to end: real video, real person model, real Mosquitto, real signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import Event, validate
from edge.outbox import Outbox
from tests.edge.service.conftest import make_broker
from tests.edge.service.helpers import REPO, ServiceProcess, Subscriber, edge_config, write_clip
from tools.broker import LocalBroker as Mosquitto
from tools.broker import free_port

pytestmark = pytest.mark.slow
MODEL = REPO / "models" / "person-ssdlite" / "openvino-int8" / "model.xml"


@pytest.fixture(scope="module")
def clip(vtest_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not built (make models)")
    return write_clip(vtest_video, tmp_path_factory.mktemp("video") / "clip.avi", 120)


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        service.kill()


def run(services: list[ServiceProcess], folder: Path, config: dict[str, Any], name: str = "edge") -> ServiceProcess:
    service = ServiceProcess(folder, config, name).start()
    services.append(service)
    return service


def unique_in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        seen.setdefault(event["id"], event)
    return sorted(seen.values(), key=lambda e: e["seq"])


def test_round_trip_events_intact_and_valid(broker: Mosquitto, clip: Path, tmp_path: Path,
                                            services: list[ServiceProcess]) -> None:
    sub = Subscriber(broker.port)
    service = run(services, tmp_path, edge_config(tmp_path, broker.port, clip))
    assert service.wait() == 0, service.raw_log()
    events = sub.events()
    kinds = {e["kind"] for e in events}
    assert {"footfall.crossing", "zone.visit", "device.health", "footfall.interval"} <= kinds, kinds
    assert [e["seq"] for e in events] == list(range(len(events)))  # each once, in order, no gap
    for event in events:
        validate(event)  # envelope and per-kind data schema
        assert (event["store"], event["device"]) == ("store-1", "edge-1")
    with sqlite3.connect(tmp_path / "outbox.db") as db:  # what was stored is what arrived, field for field
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    crossing = next(e for e in events if e["kind"] == "footfall.crossing")
    assert crossing["camera"] == "entrance" and crossing["data"]["line"] == "door"
    statuses = [s for s, _ in sub.statuses()]
    assert statuses[0]["state"] == "online" and statuses[-1] == {**statuses[-1], "state": "offline", "clean": True}
    logs = service.logs()
    assert any(entry["msg"] == "service started" and entry["engine"] == "openvino" for entry in logs)
    stopped = next(entry for entry in logs if entry["msg"] == "service stopped")
    assert stopped["frames"] == 120 and stopped["outbox_pending"] == 0
    sub.close()


def test_broker_outage_every_event_once_in_order(broker: Mosquitto, clip: Path, tmp_path: Path,
                                                 services: list[ServiceProcess]) -> None:
    outage_s = float(os.environ.get("SMARTSTORE_OUTAGE_S", "4"))
    sub = Subscriber(broker.port, client_id="collector-test", persistent=True)
    frames = 120 if outage_s < 10 else 800
    config = edge_config(tmp_path, broker.port, clip, health_interval_s=0.5,
                         camera={"pace": True, "fps": 15.0, "loop": frames > 120})
    service = run(services, tmp_path, config)
    assert service.wait_log("mqtt: connected", 60)
    time.sleep(1.0)
    broker.stop()
    time.sleep(outage_s)
    broker.start()
    if frames > 120:  # a looping source for long outages: stop it a few seconds after the broker is back
        time.sleep(5)
        service.signal(signal.SIGTERM)
    assert service.wait() == 0, service.raw_log()[-3000:]
    last = json.loads(next(line for line in reversed(service.raw_log().splitlines()) if "service stopped" in line))
    assert last["outbox_pending"] == 0
    assert sub.wait_for(lambda s: s.events() and unique_in_order(s.events())[-1]["data"].get("reason") == "shutdown")
    events = unique_in_order(sub.events())
    assert [e["seq"] for e in events] == list(range(len(events)))  # no gap, every event exactly once after dedup
    assert any("disconnected from 127.0.0.1" in entry["msg"] for entry in service.logs())
    sub.close()


def test_kill_9_three_times_loses_nothing(broker: Mosquitto, clip: Path, tmp_path: Path,
                                          services: list[ServiceProcess]) -> None:
    sub = Subscriber(broker.port, client_id="collector-test", persistent=True)
    looping = edge_config(tmp_path, broker.port, clip, health_interval_s=0.3, camera={"loop": True, "fps": 30.0})
    enqueued = []
    for round_ in range(3):
        if round_ < 2:
            broker.stop()  # events pile up in the outbox and must survive the kill
        service = run(services, tmp_path, looping, name=f"run{round_}")
        assert service.wait_log("service started", 60)
        time.sleep(3)
        service.kill()  # SIGKILL: no cleanup at all
        with sqlite3.connect(tmp_path / "outbox.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            enqueued.append(db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0])
        if round_ < 2:
            broker.start()
    assert enqueued[0] > 5 and enqueued[0] < enqueued[1] < enqueued[2]
    final = run(services, tmp_path, looping, name="final")  # the backlog drains, then a clean stop
    assert final.wait_log("mqtt: connected", 60)
    assert sub.wait_for(lambda s: len(unique_in_order(s.events())) > enqueued[2], 60)
    final.signal(signal.SIGTERM)
    assert final.wait(30) == 0
    assert sub.wait_for(lambda s: unique_in_order(s.events())[-1]["data"].get("reason") == "shutdown")
    events = unique_in_order(sub.events())
    assert [e["seq"] for e in events] == list(range(len(events)))  # every enqueued event arrived, none twice
    assert any(s["state"] == "offline" and not s["clean"] for s, _ in sub.statuses())  # the last will
    sub.close()


def test_disk_cap_with_broker_down(clip: Path, tmp_path: Path, services: list[ServiceProcess]) -> None:
    cap = 256 * 1024
    box = Outbox(tmp_path / "outbox.db", cap_bytes=cap)  # a long outage's backlog, close to the cap
    filler = {"reason": "periodic", "fps": 15.0, "error": "x" * 300}
    for _ in range(60):
        box.enqueue([Event("device.health", "store-1", "edge-1", 0, filler) for _ in range(10)])
    box.close()
    config = edge_config(tmp_path, free_port(), clip, health_interval_s=0.05, outbox={"cap_mb": 0.25},
                         camera={"loop": True, "fps": 30.0})
    service = run(services, tmp_path, config)
    assert service.wait_log("dropped", 60), service.raw_log()[-2000:]
    time.sleep(2)
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    files = [tmp_path / "outbox.db", tmp_path / "outbox.db-wal"]
    assert sum(p.stat().st_size for p in files if p.exists()) <= cap
    warning = next(e for e in service.logs() if "over its" in e["msg"])
    assert warning["dropped"]["device.health"] > 0
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        dropped = dict(db.execute("SELECT kind, count FROM dropped").fetchall())
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert dropped["device.health"] >= warning["dropped"]["device.health"]
    assert any("cannot connect to 127.0.0.1" in e["msg"] for e in service.logs())  # kept retrying


def test_camera_loss_and_recovery_health_events(broker: Mosquitto, clip: Path, tmp_path: Path,
                                                services: list[ServiceProcess]) -> None:
    video = tmp_path / "camera.avi"
    video.write_bytes(clip.read_bytes())
    sub = Subscriber(broker.port)
    config = edge_config(tmp_path, broker.port, video, health_interval_s=30,
                         camera={"loop": True, "fps": 60.0, "reconnect": {"min_s": 0.2, "max_s": 0.5}})
    service = run(services, tmp_path, config)
    assert service.wait_log("service started", 60)
    video.rename(tmp_path / "gone.avi")
    assert sub.wait_for(lambda s: any(e["data"].get("reason") == "camera_lost" for e in s.events()), 30)
    time.sleep(1)
    (tmp_path / "gone.avi").rename(video)
    assert sub.wait_for(lambda s: any(e["data"].get("reason") == "camera_recovered" for e in s.events()), 30)
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    health = [e for e in sub.events() if e["kind"] == "device.health" and e["camera"] == "entrance"]
    lost = next(e for e in health if e["data"]["reason"] == "camera_lost")
    recovered = next(e for e in health if e["data"]["reason"] == "camera_recovered")
    assert lost["seq"] < recovered["seq"] and "does not exist" in lost["data"]["error"]
    assert recovered["data"]["reconnects"] == 1 and recovered["data"]["camera_state"] == "streaming"
    sub.close()


def test_sighup_reloads_lines(broker: Mosquitto, clip: Path, tmp_path: Path, services: list[ServiceProcess]) -> None:
    import yaml

    config = edge_config(tmp_path, broker.port, clip, camera={"loop": True, "fps": 30.0})
    service = run(services, tmp_path, config)
    assert service.wait_log("service started", 60)
    config["cameras"][0]["lines"] = [{"name": "aisle", "points": [[384, 0], [384, 576]]}]
    service.config_path.write_text(yaml.safe_dump(config))
    service.signal(signal.SIGHUP)
    assert service.wait_log("reloaded lines/zones", 20)
    service.config_path.write_text("store: [broken\n")
    service.signal(signal.SIGHUP)
    assert service.wait_log("reload failed, keeping the current lines/zones", 20)
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    reload = next(e for e in service.logs() if e["msg"] == "reloaded lines/zones")
    assert reload["changed_cameras"] == ["entrance"]


def test_bad_config_and_absent_broker(tmp_path: Path, clip: Path, services: list[ServiceProcess]) -> None:
    import subprocess

    from tests.edge.service.helpers import SMARTSTORE

    bad = tmp_path / "bad.yaml"
    bad.write_text("store: s\ndevice: d\ncameras: [{id: a, source: x}]\nmqtt: {port: eighty}\n")
    result = subprocess.run([str(SMARTSTORE), "edge", "run", "--config", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"smartstore: error: {bad}: mqtt.port = 'eighty': Input should be a valid integer, unable to parse string "
        "as an integer"]
    port = free_port()
    service = run(services, tmp_path, edge_config(tmp_path, port, clip, camera={"loop": True, "fps": 30.0}))
    assert service.wait_log("service started", 60)
    time.sleep(3)
    assert service.proc is not None and service.proc.poll() is None  # still running, still retrying
    errors = [e["msg"] for e in service.logs() if e["level"] == "error"]
    assert len(errors) >= 2 and all(f"cannot connect to 127.0.0.1:{port}: Connection refused" in m for m in errors)
    late = make_broker(tmp_path / "late", port=port)  # the broker comes up: the backlog drains
    late.start()
    try:
        assert service.wait_log("mqtt: connected", 20)
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0
        stopped = next(e for e in service.logs() if e["msg"] == "service stopped")
        assert stopped["outbox_pending"] == 0
    finally:
        late.stop()


def test_edge_check_reports_each_step(broker: Mosquitto, clip: Path, tmp_path: Path) -> None:
    import subprocess

    import yaml

    from tests.edge.service.helpers import SMARTSTORE

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(edge_config(tmp_path, broker.port, clip)))
    result = subprocess.run([str(SMARTSTORE), "edge", "check", "--config", str(good)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ok   config", "ok   camera entrance", "ok   model",
                                                      "ok   outbox", "ok   broker"]
    assert "768x576" in lines[1] and "openvino" in lines[2]
    broken = edge_config(tmp_path, free_port(), tmp_path / "missing.avi")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken))
    result = subprocess.run([str(SMARTSTORE), "edge", "check", "--config", str(bad), "--broker-timeout", "2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "FAIL camera entrance: video file" in result.stdout and "FAIL broker: 127.0.0.1" in result.stdout
    assert "Connection refused" in result.stdout


def test_two_cameras_share_one_detector(broker: Mosquitto, vtest_video: Path, clip: Path, tmp_path: Path,
                                        services: list[ServiceProcess]) -> None:
    short = write_clip(vtest_video, tmp_path / "short.avi", 40)
    config = edge_config(tmp_path, broker.port, short)
    second = {**config["cameras"][0], "id": "aisle", "lines": [{"name": "far", "points": [[0, 300], [2000, 300]]}]}
    config["cameras"].append(second)
    sub = Subscriber(broker.port)
    service = run(services, tmp_path, config)
    assert service.wait() == 0, service.raw_log()[-2000:]
    started = [e for e in service.logs() if e["msg"] == "service started"]
    assert len(started) == 1 and started[0]["cameras"] == ["entrance", "aisle"]
    assert next(e for e in service.logs() if e["msg"] == "service stopped")["frames"] == 80  # 40 + 40, none lost
    assert sub.wait_for(lambda s: any(e["data"].get("reason") == "shutdown" for e in s.events()))
    health = [e for e in sub.events() if e["kind"] == "device.health" and e["data"]["reason"] == "shutdown"]
    assert health[0]["data"]["engine"] == "openvino"
    errors = [e["msg"] for e in service.logs() if e["level"] == "error"]
    assert errors == ["camera aisle: line 'far': point (2000,300) is outside the 768x576 frame "
                      "(check cameras[].lines/zones)"]
    cameras = {e["camera"] for e in sub.events() if e["kind"] == "zone.occupancy"}
    assert cameras == {"entrance", "aisle"}
    sub.close()
