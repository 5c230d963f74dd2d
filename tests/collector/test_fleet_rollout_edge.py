"""A staged roll-out to a real ``smartstore edge run`` (person-ssdlite on OpenVINO FP16, a looped clip of
vtest.avi at its own pace) through a real Mosquitto and the real collector: a signed version 2 of the detector is
fetched, activated and judged healthy from the box's own health (which names version 2), and a version 3 whose
weights do not load is refused by the box (it keeps version 2), which stops the roll-out."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.fleet.rollout import create_rollout, load_manifest
from collector.fleet.rollout_plan import RolloutSettings
from collector.fleet.rollout_store import RolloutStore
from collector.service import Collector
from contract.signing import generate_keypair, load_private_key, sign_bundle
from edge.models import models_dir
from tests.collector.conftest import collector_config, wait_for
from tests.edge.service.helpers import ServiceProcess, edge_config, write_clip
from tests.edge.test_model_versions import runnable
from tools.bench.fleet_sim import serve
from tools.broker import LocalBroker as Mosquitto

SETTINGS = {"soak_s": 6.0, "baseline_s": 5.0, "health_timeout_s": 10.0, "apply_timeout_s": 120.0,
            "max_fps_drop": 0.5}


def bundle(folder: Path, version: int, spoil: bool = False) -> Path:
    """person-ssdlite's OpenVINO FP16 files as a bundle of ``version`` (``spoil``: weights that do not match)."""
    source = models_dir() / "person-ssdlite"
    manifest = yaml.safe_load((source / "model.yaml").read_text())
    entry = next(f for f in manifest["files"] if f["engine"] == "openvino" and f["precision"] == "fp16")
    manifest.update(version=version, files=[entry])
    target = folder / str(version)
    for rel in [entry["path"], *entry.get("extra_files", {})]:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / rel)
    if spoil:
        weights = target / next(iter(entry["extra_files"]))
        weights.write_bytes(weights.read_bytes()[:-1024])
    (target / "model.yaml").write_text(yaml.safe_dump(manifest))
    return target


def _finish(rollouts: RolloutStore, rollout_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    wait_for(lambda: rollouts.get(rollout_id)["state"] in ("done", "rolled_back"), 180,  # type: ignore[index]
             f"roll-out {rollout_id}")
    rollout = rollouts.get(rollout_id)
    assert rollout is not None
    return rollout, rollouts.devices(rollout_id)


@pytest.mark.slow
def test_rollout_to_a_real_edge_service(broker: Mosquitto, vtest_video: Path, tmp_path: Path) -> None:
    runnable("person-ssdlite", "openvino", "fp16")
    generate_keypair(tmp_path / "fleet.key", tmp_path / "fleet.pub")
    key = load_private_key(tmp_path / "fleet.key")
    served = tmp_path / "served"
    server, url = serve(served)
    signed = {v: sign_bundle(key, "person-ssdlite", v, folder=bundle(served, v, spoil=v == 3), url_base=f"{url}/{v}")
              for v in (2, 3)}
    for v, doc in signed.items():
        (tmp_path / f"v{v}.json").write_text(json.dumps(doc))
    config = collector_config(str(tmp_path / "collector.db"), None, broker.port).model_copy(deep=True)
    config.rollouts.tick_s = 0.3
    collector = Collector(config, api=False)
    collector.start()
    clip = write_clip(vtest_video, tmp_path / "clip.avi", 60)
    edge = ServiceProcess(tmp_path, edge_config(
        tmp_path, broker.port, clip, camera={"loop": True, "pace": True},
        model={"engine": "openvino", "precision": "fp16"}, fleet={"public_keys": str(tmp_path / "fleet.pub")}))
    edge.start()
    rollouts = RolloutStore(collector.store)
    try:
        health = "SELECT payload FROM events WHERE kind = 'device.health' AND camera IS NULL ORDER BY stored"
        wait_for(lambda: len(collector.store.rows(health)) >= 6, 120, "the box's health before the roll-out")
        first = json.loads(collector.store.rows(health)[-1]["payload"])["data"]["model"]
        assert first["name"] == "person-ssdlite" and first["version"] == 1

        signed_2, manifest_2 = load_manifest(tmp_path / "v2.json")
        rollout, [device] = _finish(rollouts, create_rollout(collector.store, signed_2, manifest_2,
                                                             [("store-1", "edge-1")],
                                                             RolloutSettings.model_validate(SETTINGS)))
        assert rollout["state"] == "done", (rollout["reason"], device, edge.raw_log()[-2000:])
        assert device["state"] == "healthy" and device["baseline"]["version"] == 1 and device["baseline"]["fps"] > 0
        after = [json.loads(r["payload"])["data"] for r in collector.store.rows(
            "SELECT payload FROM events WHERE kind = 'device.health' AND camera IS NULL AND stored > ?",
            (device["applied"],))]
        assert after and after[-1]["model"]["version"] == 2 and after[-1]["fps"] > 0

        signed_3, manifest_3 = load_manifest(tmp_path / "v3.json")
        rollout, [device] = _finish(rollouts, create_rollout(collector.store, signed_3, manifest_3,
                                                             [("store-1", "edge-1")],
                                                             RolloutSettings.model_validate(SETTINGS)))
        assert rollout["state"] == "rolled_back" and device["state"] == "failed", device
        assert "sha256" in device["reason"] and device["rollback_id"] is None  # refused: it kept version 2
        assert edge.proc is not None and edge.proc.poll() is None
    finally:
        edge.signal(signal.SIGTERM)
        edge.wait(60)
        collector.stop()
        server.shutdown()
