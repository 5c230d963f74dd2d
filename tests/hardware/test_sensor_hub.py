"""SensorHub: config validation, a real socket:// sensor, fusion timeout, records valid against the event schemas."""

from __future__ import annotations

import time

import jsonschema
import pytest
from pydantic import ValidationError

from contract import Record, load_schema
from edge.sensors import SensorHub, SensorsConfig
from tests.hardware.test_serial_sensors import D, FlakySensorServer, W


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        SensorsConfig.model_validate({"ports": [{"port": "/dev/ttyUSB0", "weight": {"noise_g": -1}}]})
    assert err.value.errors()[0]["loc"] == ("ports", 0, "weight", "noise_g")
    with pytest.raises(ValidationError, match="Extra inputs"):
        SensorsConfig.model_validate({"ports": [{"port": "/dev/ttyUSB0", "bauds": 9600}]})


def test_hub_turns_a_sensor_stream_into_schema_valid_records() -> None:
    server = FlakySensorServer([W(500) * 3 + W(250) * 3 + W(4) * 3 + D(10, 0) + D(13, 1)])
    config = SensorsConfig.model_validate({
        "ports": [{"port": f"socket://127.0.0.1:{server.port}", "slots": {"1/3": {"unit_g": 250}}}],
        "disagree_timeout_s": 5, "slot_names": {"1/3": "A/cola"},
    })
    hub = SensorHub(config).start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + 10
        while (len(records) < 3 or hub.entered() < 3) and time.monotonic() < deadline:
            records += hub.drain(now=0.0)
            time.sleep(0.02)
    finally:
        hub.stop()
        server.close()
    assert [(r.kind, r.data["action"], r.data["slot"], r.data.get("units")) for r in records] == [
        ("sensor.weight", "pick_up", "A/cola", 1), ("sensor.weight", "pick_up", "A/cola", 1),
        ("sensor.weight", "empty", "A/cola", None)]
    assert hub.footfall == {"front": {"entered": 3, "exited": 1}}
    emptied = records[-1].ts
    assert hub.drain(now=emptied + 4.9) == []  # the weight alone says empty: wait for the camera
    late = hub.drain(now=emptied + 5.1)
    assert [(r.kind, r.data["shelf"], r.data["slot"], r.data["source"]) for r in late] == [
        ("shelf.out_of_stock", "A", "cola", "weight")]
    assert hub.camera("A/cola", True, now=emptied + 6) == []  # already out of stock
    camera_alone = hub.camera("B/tea", True, now=0) + hub.camera("B/tea", False, now=1)
    assert camera_alone == []  # a slot without a weight strip: the camera changed its mind within the timeout
    assert hub.has_strip("A/cola") and hub.has_strip("B/tea") and not hub.has_strip("C/milk")
    restocked = [Record("shelf.restocked", {"shelf": "A", "row": "r", "slot": "cola", "sku": "x", "empty_s": 1.0},
                        emptied + 7)]
    snapshot = [Record("shelf.snapshot", {"shelf": "C", "slot": "milk"}, 0.0)]
    assert hub.camera_events(snapshot) == []
    fused = hub.camera_events(restocked)  # the camera alone sees stock, the weight still says empty: stays out
    assert fused == [] and hub.fusion.out_of_stock("A/cola")
    unfused = [Record("shelf.out_of_stock", {"shelf": "C", "row": "r", "slot": "milk", "sku": "m",
                                              "confidence": 1.0}, 0.0)]
    assert hub.camera_events(unfused) == [] and not hub.fusion.knows("C/milk")  # camera-only slot: not fused
    for record in records + late:
        jsonschema.validate(record.data, load_schema(record.kind))
    stats = hub.stats()[config.ports[0].port]
    assert stats["records"] == 11 and stats["checksum_errors"] == 0
