"""Shadow mode and model versions through the collector: the latest ``model.shadow`` per device and camera on both
backends, served by ``/api/v1/stores/{store}/shadow``; end to end, a real ``smartstore edge run`` with a shadow
candidate on a real video publishes through a real Mosquitto to the collector's ingest, and only the live model's
crossings become footfall."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.auth import check_scopes, new_token, token_hash
from collector.store import Store, open_store
from collector.validation import Accepted, check_event
from contract import Event
from contract.events import ModelRef
from tests.collector.conftest import RunningIngestor, collector_config, wait_for
from tests.edge.service.helpers import ServiceProcess, edge_config, write_clip
from tests.edge.test_model_versions import runnable
from tools.broker import LocalBroker as Mosquitto

CANDIDATE = ModelRef("person-ssdlite", 2, "c" * 64)
LIVE = ModelRef("person-ssdlite", 1, "a" * 64)


def shadow(camera: str, minutes_ago: float, live_found: float, device: str = "d1", seq: int = 0) -> Accepted:
    data = {"candidate": CANDIDATE.to_dict(), "live": LIVE.to_dict(), "start": "2026-01-01T00:00:00.000Z",
            "end": "2026-01-01T00:01:00.000Z", "frames": 12, "live_boxes": 40, "candidate_boxes": 41,
            "matched": int(40 * live_found), "live_found": live_found, "candidate_found": 0.9,
            "count_diff_mean": 0.08}
    event = Event("model.shadow", "s1", device, seq, data, camera=camera, model=CANDIDATE,
                  ts=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    accepted = check_event(event.topic(), event.to_json())
    assert isinstance(accepted, Accepted), accepted
    return accepted


def test_the_latest_shadow_per_device_and_camera_is_kept_and_never_counted(store: Store) -> None:
    store.write_batch([shadow("entrance", 5, 0.5, seq=0), shadow("entrance", 1, 0.97, seq=1),
                       shadow("till", 3, 0.8, seq=2), shadow("entrance", 2, 0.9, device="d2")])
    store.write_batch([shadow("entrance", 9, 0.1, seq=3)])  # older, arriving later: not the latest
    latest = {(r["device"], r["camera"]): r["data"]["live_found"] for r in store.shadow_latest("s1")}
    assert latest == {("d1", "entrance"): 0.97, ("d1", "till"): 0.8, ("d2", "entrance"): 0.9}
    assert store.shadow_latest("s2") == [] and store.footfall_series("s1") == []
    row = store.shadow_latest("s1")[0]
    assert row["data"]["candidate"] == CANDIDATE.to_dict() and row["ts"] == pytest.approx(time.time() - 60, abs=30)


def test_the_shadow_route_needs_the_stores_scope(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "c.db"))
    store.write_batch([shadow("entrance", 1, 0.97)])
    tokens = {scope: new_token() for scope in ("read:s1", "read:s2")}
    for scope, token in tokens.items():
        store.add_token(scope, check_scopes([scope]), token_hash(token))
    with TestClient(create_app(store, "configured-admin-token")) as client:
        mine = client.get("/api/v1/stores/s1/shadow", headers={"Authorization": f"Bearer {tokens['read:s1']}"})
        assert mine.status_code == 200
        [row] = mine.json()
        assert (row["device"], row["camera"], row["data"]["live_found"]) == ("d1", "entrance", 0.97)
        other = client.get("/api/v1/stores/s1/shadow", headers={"Authorization": f"Bearer {tokens['read:s2']}"})
        assert other.status_code == 403
    store.close()


@pytest.mark.slow
def test_edge_shadow_to_collector_end_to_end(broker: Mosquitto, vtest_video: Path, tmp_path: Path,
                                             ingestor_factory: Callable[[Any], RunningIngestor]) -> None:
    _, live_file = runnable("person-ssdlite", "openvino", "fp16")
    _, candidate_file = runnable("person-ssdlite", "onnxruntime", "int8")
    ingest = ingestor_factory(collector_config(str(tmp_path / "collector.db"), None, broker.port))
    clip = write_clip(vtest_video, tmp_path / "clip.avi", 80)
    config = edge_config(tmp_path, broker.port, clip, model={"precision": "fp16"},
                         camera={"shadow": {"model": "person-ssdlite", "engine": "onnxruntime", "precision": "int8",
                                            "every_n": 2, "interval_s": 0.5}})  # 80 frames take over 1 s
    service = ServiceProcess(tmp_path, config).start()
    assert service.wait(300) == 0, service.raw_log()[-3000:]
    with sqlite3.connect(tmp_path / "outbox.db") as outbox:
        assert outbox.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0  # every event acknowledged
    db = open_store(str(tmp_path / "collector.db"))
    wait_for(lambda: bool(db.shadow_latest("store-1")) and any(
        json.loads(r["payload"])["data"].get("reason") == "shutdown" for r in db.rows(
            "SELECT payload FROM events WHERE kind = 'device.health'")), what="the edge's last events stored")
    events = [json.loads(r["payload"]) for r in db.rows("SELECT payload FROM events ORDER BY seq")]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_kind.setdefault(event["kind"], []).append(event)
    live = {"name": "person-ssdlite", "version": 1, "sha256": live_file.sha256}
    assert by_kind["footfall.crossing"] and all(e["model"] == live for e in by_kind["footfall.crossing"])
    assert all(e.get("model") == live for k in ("zone.occupancy", "footfall.interval") for e in by_kind.get(k, []))
    device_health = [e for e in by_kind["device.health"] if e["camera"] is None]
    assert device_health and all(e["data"]["model"] == live and "model" not in e for e in device_health)
    shadows = by_kind["model.shadow"]
    assert len(shadows) >= 2 and all(e["model"]["sha256"] == candidate_file.sha256 for e in shadows)
    assert sum(e["data"]["frames"] for e in shadows) == 40  # every 2nd of 80 frames, in intervals of 0.5 s
    [latest] = db.shadow_latest("store-1")
    newest = max(shadows, key=lambda e: e["ts"])
    assert (latest["device"], latest["camera"], latest["data"]) == ("edge-1", "entrance", newest["data"])
    assert min(e["data"]["live_found"] or 0 for e in shadows if e["data"]["live_boxes"] >= 10) >= 0.85
    footfall = db.footfall_series("store-1")
    assert sum(p["in"] + p["out"] for p in footfall) == len(by_kind["footfall.crossing"])  # the live model's only
    db.close()
    ingest.stop()
