"""``smartstore demo --once`` ends by itself after the video, with the edge service's events stored."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from collector.service import SMARTSTORE
from collector.store import open_store
from tools.demo import DEVICE, STORE, run_demo


def clip(source: Path, target: Path, frames: int) -> Path:
    """The first ``frames`` frames of a real video (the full vtest.avi takes a minute on this machine)."""
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(source))
    ok, frame = capture.read()
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (frame.shape[1], frame.shape[0]))
    for _ in range(frames):
        if not ok:
            break
        writer.write(frame)
        ok, frame = capture.read()
    writer.release()
    capture.release()
    return target


@pytest.mark.slow
def test_demo_once_ends_by_itself(tmp_path: Path, vtest_video: Path) -> None:
    video = clip(vtest_video, tmp_path / "clip.avi", 300)
    result = run_demo(tmp_path / "demo", once=True, video=video, api_port=0, timeout_s=240, quiet=True)
    assert result.edge_status == 0  # the edge service finished the clip and exited on its own
    assert result.events > 10 and result.footfall_in + result.footfall_out > 0
    assert [(d["device"], d["state"]) for d in result.devices] == [("edge-demo", "offline")]  # clean shutdown
    assert "#token=" in result.url and result.token in result.url


@pytest.mark.slow
def test_demo_embedded_broker(tmp_path: Path, vtest_video: Path) -> None:
    """``smartstore demo --once --broker embedded``: the amqtt broker (what machines without Mosquitto get)
    carries the edge service's events over MQTT 3.1.1 QoS 1 into the collector's store."""
    pytest.importorskip("amqtt")
    video = clip(vtest_video, tmp_path / "clip.avi", 200)
    workdir = tmp_path / "demo"
    done = subprocess.run([*SMARTSTORE, "demo", "--once", "--broker", "embedded", "--workdir", str(workdir),
                           "--video", str(video), "--port", "0"], capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "embedded amqtt broker" in done.stdout
    assert not (workdir / "mosquitto").exists()  # no Mosquitto was started
    edge_yaml = yaml.safe_load((workdir / "edge.yaml").read_text())
    assert edge_yaml["mqtt"]["protocol"] == "3.1.1"
    store = open_store(str(workdir / "collector.db"))
    try:
        counts = store.counts()
        series = store.footfall_series(STORE)
        assert counts["events"] > 10 and sum(counts["dead_letters"].values()) == 0
        assert sum(p["in"] + p["out"] for p in series) > 0
        assert [(d["device"], d["state"]) for d in store.devices(STORE)] == [(DEVICE, "offline")]
        # every event the edge service published reached the store, once, without sequence gaps
        stopped = [json.loads(line) for line in (workdir / "edge.log").read_text().splitlines()
                   if '"service stopped"' in line]
        assert len(stopped) == 1 and stopped[0]["outbox_pending"] == 0
        device = store.devices(STORE)[0]
        assert counts["events"] == device["events"] == stopped[0]["published"] and device["seq_gaps"] == 0, device
    finally:
        store.close()


def test_embedded_broker_keeps_messages_for_an_absent_session() -> None:
    """At least once needs the broker to queue QoS 1 messages for a persistent session while its client is away."""
    pytest.importorskip("amqtt")
    from paho.mqtt import client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tools.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker().start()
    received: list[bytes] = []
    try:
        def client(name: str) -> mqtt.Client:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv311, clean_session=False)
            c.on_message = lambda c, u, msg: received.append(msg.payload)
            c.connect("127.0.0.1", broker.port)
            c.loop_start()
            return c

        sub = client("collector")
        sub.subscribe("smartstore/v1/#", qos=1)
        time.sleep(0.3)
        sub.disconnect()
        sub.loop_stop()
        pub = client("edge")
        for i in range(20):
            pub.publish("smartstore/v1/s/d/people.count", str(i).encode(), qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        sub = client("collector")  # the same client id: the broker delivers what it queued
        deadline = time.monotonic() + 10
        while len(received) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        sub.disconnect()
        sub.loop_stop()
    finally:
        broker.stop()
    assert sorted(int(p) for p in received) == list(range(20))
