"""``smartstore edge run`` with a shelf camera (real models, composed shelf video) and a weight strip on a pty."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml

from contract import validate
from edge.analytics.sku import Embedder, enroll_folder
from tests.edge.analytics.test_shelf_pipeline import SKUS, _folder_of, _grid, _ready, _shelf_scene
from tests.edge.service.helpers import ServiceProcess, Subscriber, edge_config, write_clip
from tests.hardware.test_serial_sensors import D, Pty, W
from tools.broker import LocalBroker as Mosquitto

pytestmark = pytest.mark.slow
BUS = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / \
    "ultralytics" / "assets" / "bus.jpg"


def _shelf_video(shared_data: Path, path: Path) -> Path:
    """14 frames at 10 fps: slot s00 empties (frames 4-9) and comes back; a person stands before s03/s13 all along."""
    scene = _shelf_scene(shared_data / "grocery-store")
    person = cv2.imread(str(BUS))[230:900, 20:260]
    scene[20:700, 1000:1240] = cv2.resize(person, (240, 680))
    emptied = scene.copy()
    emptied[0:360, 0:320] = 190  # the products of s00 are gone: bare shelf
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (1280, 720))
    for image in [scene] * 4 + [emptied] * 6 + [scene] * 4:
        writer.write(image)
    writer.release()
    return path


def _events(sub: Subscriber, kind: str) -> list[dict[str, Any]]:
    return [e for e in sub.events() if e["kind"] == kind]


def test_shelf_camera_events_arrive_valid_and_fuse_with_weight(broker: Mosquitto, shared_data: Path,
                                                               tmp_path: Path) -> None:
    for name in ("efficientnet-lite0", "shelf-products", "person-ssdlite"):
        _ready(name)
    photos = tmp_path / "photos"
    for sku in SKUS:
        (photos / sku).mkdir(parents=True)
        for photo in sorted(_folder_of(shared_data / "grocery-store", "train", sku).glob("*.jpg"))[:2]:
            (photos / sku / photo.name).symlink_to(photo)
    enroll_folder(photos, Embedder("efficientnet-lite0", "openvino", "int8")).save(tmp_path / "g.npz")
    video = _shelf_video(shared_data, tmp_path / "shelf.avi")
    shelf = _grid(gallery="g.npz", out_of_stock_after_s=0, restock_after_s=0, grace_s=0, snapshot_every_s=0.5)
    link = tmp_path / "ttyWEIGHT"
    strip = Pty(link)  # a weight strip under slot s00
    # Unpaced file sources hand over every frame: the result must not depend on how long the models take to compile.
    config = edge_config(tmp_path, broker.port, video, camera={
        "id": "aisle-1", "lines": [], "zones": [], "pace": False, "shelf": {"config": shelf, "every_s": 0}},
        sensors={"ports": [{"port": str(link)}], "slot_names": {"1/3": "test/s00"}})
    sub = Subscriber(broker.port)
    service = ServiceProcess(tmp_path, config).start()
    try:
        assert service.wait_log("service started"), service.raw_log()
        assert service.wait_log(f"serial port {link} open"), service.raw_log()  # opening flushes what came before
        strip.write(W(900) * 3 + W(5) * 3)  # the strip empties too (the camera sees it 1 s into the video)
        assert service.wait(120) == 0, service.raw_log()
    finally:
        service.kill()
        strip.unplug()
    assert sub.wait_for(lambda s: any(e["kind"] == "device.health" and e["data"]["reason"] == "shutdown"
                                      for e in s.events()))
    events = sub.events()
    assert [e["seq"] for e in events] == list(range(len(events)))
    for event in events:
        validate(event)
    out = [e["data"]["slot"] for e in _events(sub, "shelf.out_of_stock")]
    back = [e["data"]["slot"] for e in _events(sub, "shelf.restocked")]
    assert "s00" in out and "s00" in back, (out, back)
    assert not {"s03", "s13"} & set(out)  # behind the person: occluded, never empty
    fused = [e["data"] for e in _events(sub, "shelf.out_of_stock") if "source" in e["data"]]
    assert [(d["shelf"], d["slot"], d["source"]) for d in fused] == [("test", "s00", "camera+weight")], fused
    snapshots = _events(sub, "shelf.snapshot")
    assert snapshots and all(e["camera"] == "aisle-1" for e in snapshots)
    states = {s["slot"]: s["state"] for s in snapshots[0]["data"]["slots"]}
    assert states["s03"] == "occluded" and len(states) == 8, states
    sub.close()


def test_weight_strip_on_a_pty_events_over_mqtt(broker: Mosquitto, vtest_video: Path, tmp_path: Path) -> None:
    _ready("person-ssdlite")
    clip = write_clip(vtest_video, tmp_path / "clip.avi", 20)
    link = tmp_path / "ttyWEIGHT"
    strip = Pty(link)
    config = edge_config(tmp_path, broker.port, clip, camera={"loop": True, "fps": 10}, sensors={
        "ports": [{"port": str(link), "slots": {"1/3": {"unit_g": 250}}}],
        "disagree_timeout_s": 1, "slot_names": {"1/3": "A/cola"}})
    sub = Subscriber(broker.port)
    service = ServiceProcess(tmp_path, config).start()
    try:
        assert service.wait_log("service started"), service.raw_log()
        assert service.wait_log(f"serial port {link} open"), service.raw_log()  # opening flushes what came before
        strip.write(W(500) * 3 + W(250) * 3 + W(4) * 3 + D(10, 0) + D(13, 1))
        assert sub.wait_for(lambda s: _events(s, "shelf.out_of_stock")), service.raw_log()

        def door_counted(s: Subscriber) -> bool:
            return any(e["data"].get("footfall_agreement", {}).get("sensor_in") == 3
                       for e in _events(s, "device.health") if e["camera"] is None)

        assert sub.wait_for(door_counted), service.raw_log()
        service.signal(signal.SIGTERM)
        assert service.wait(60) == 0, service.raw_log()
    finally:
        service.kill()
        strip.unplug()
    weights = _events(sub, "sensor.weight")
    assert [(e["data"]["action"], e["data"]["slot"], e["data"].get("units")) for e in weights] == [
        ("pick_up", "A/cola", 1), ("pick_up", "A/cola", 1), ("empty", "A/cola", None)]
    out = _events(sub, "shelf.out_of_stock")[0]["data"]
    assert (out["shelf"], out["slot"], out["source"]) == ("A", "cola", "weight")
    health = next(e for e in _events(sub, "device.health") if e["data"].get("footfall_agreement", {}).get("sensor_in"))
    assert health["data"]["footfall_agreement"]["camera_in"] >= 0
    stats = health["data"]["sensors"][str(link)]
    assert stats["records"] >= 9 and stats["checksum_errors"] == 0
    for event in sub.events():
        validate(event)
    sub.close()


def test_shelf_and_sensor_config_errors_name_the_field(tmp_path: Path) -> None:
    from edge.config import ConfigError, load_config

    bad_shelf = tmp_path / "shelf.yaml"
    bad_shelf.write_text("shelf: A\nrows: []\n")
    for section, expected in [
        ({"cameras": [{"id": "c", "source": 0, "shelf": {"file": "shelf.yaml"}}]},
         "cameras[0].shelf.file: " + str(bad_shelf) + ": rows: List should have at least 1 item"),
        ({"cameras": [{"id": "c", "source": 0, "shelf": {"every_s": 5}}]},
         "cameras[0].shelf: Value error, give exactly one of file"),
        ({"cameras": [{"id": "c", "source": 0}], "sensors": {"ports": [{"port": "/dev/ttyUSB0", "baud": -1}]}},
         "sensors.ports[0].baud = -1: Input should be greater than 0"),
    ]:
        path = tmp_path / "edge.yaml"
        path.write_text(yaml.safe_dump({"store": "s", "device": "d", **section}))
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert str(err.value).startswith(f"{path}: ") and expected in str(err.value), str(err.value)
