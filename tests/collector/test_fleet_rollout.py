"""Staged roll-outs against a real Mosquitto and the real collector, to 20 simulated devices that verify and
install every bundle with the edge's own command channel (tools/bench/fleet_sim.py): a good version reaches every
device wave after wave, a bad one in the canary is rolled back by itself and never reaches wave 1, a collector
restart resumes a roll-out, and an abort by hand rolls back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.config import CollectorConfig
from collector.fleet.enroll import BrokerFiles
from collector.fleet.rollout import abort_rollout, create_rollout, load_manifest
from collector.fleet.rollout_plan import RolloutError, RolloutSettings, plan_waves
from collector.fleet.rollout_store import RolloutStore
from collector.service import Collector
from tests.collector.conftest import collector_config, wait_for
from tests.collector.test_fleet_broker import documented_settings
from tools.bench.fleet_sim import Fleet, SimDevice, run_devices, wait_until
from tools.broker import LocalBroker

HEALTH_S = 0.4
N = 20
FAST = {"soak_s": 2.0, "baseline_s": 2.0, "health_timeout_s": 4.0, "apply_timeout_s": 30.0}
REPO = Path(__file__).resolve().parents[2]
SMARTSTORE = [sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())"]


@dataclass
class Sim:
    fleet: Fleet
    devices: dict[str, SimDevice]
    config: CollectorConfig
    collector: Collector

    @property
    def store(self) -> Any:
        return self.collector.store

    def start(self, version: int, **settings: Any) -> int:
        signed, manifest = load_manifest(self.fleet.manifest(version))
        return create_rollout(self.store, signed, manifest, sorted(self.fleet.names),
                              RolloutSettings.model_validate({**FAST, **settings}))

    def finish(self, rollout_id: int, timeout: float = 90) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rollouts = RolloutStore(self.store)
        wait_for(lambda: rollouts.get(rollout_id)["state"] in ("done", "rolled_back"), timeout,  # type: ignore[index]
                 f"roll-out {rollout_id} to finish")
        rollout = rollouts.get(rollout_id)
        assert rollout is not None
        return rollout, rollouts.devices(rollout_id)

    def settle(self) -> None:
        """A fresh baseline for the next roll-out."""
        time.sleep(FAST["baseline_s"] + 2 * HEALTH_S)


@contextmanager
def running(port: int, root: Path, n: int, passwords: dict[str, str] | None = None,
            collector_password: str | None = None) -> Iterator[Sim]:
    """``n`` simulated devices on version 1 and a collector, on the broker at ``port`` (with broker accounts when
    ``passwords`` are given: per device ``STORE/DEVICE``, and the collector's)."""
    fleet = Fleet(root / "fleet", n, 4)
    devices = {f"{s}/{d}": SimDevice(s, d, root / "devices" / s / d, fleet.public, port, detections_per_min=900,
                                     password=(passwords or {}).get(f"{s}/{d}")) for s, d in fleet.names}
    stop = threading.Event()
    runner = threading.Thread(target=run_devices, args=(list(devices.values()), fleet.signed[1], HEALTH_S, stop),
                              daemon=True)
    config = collector_config(str(root / "collector.db"), None, port).model_copy(deep=True)
    config.rollouts.tick_s = 0.3
    if collector_password is not None:
        config.mqtt.username, config.mqtt.password = "collector", collector_password
    collector = Collector(config, api=False)
    collector.start()
    runner.start()
    sim: Sim | None = None
    try:
        wait_until(lambda: all(d.running() == 1 for d in devices.values()), 60, "version 1 on every device")
        wait_for(lambda: len(collector.store.rows("SELECT DISTINCT device FROM events WHERE kind = 'device.health'"))
                 == n, 30, "health from every device")
        time.sleep(FAST["baseline_s"])
        sim = Sim(fleet, devices, config, collector)
        yield sim
    finally:
        stop.set()
        runner.join(30)
        (sim.collector if sim is not None else collector).stop()  # the one running (a test may restart it)
        fleet.close()


@pytest.fixture
def sim(broker: Any, tmp_path: Path) -> Iterator[Sim]:
    with running(broker.port, tmp_path, N) as fleet_sim:
        yield fleet_sim


@pytest.mark.slow
def test_good_version_reaches_every_device_wave_after_wave_and_bad_canaries_roll_back(sim: Sim) -> None:
    rollout, devices = sim.finish(sim.start(2))
    assert rollout["state"] == "done", rollout["reason"]
    assert [d["state"] for d in devices] == ["healthy"] * N
    assert all(d.running() == 2 for d in sim.devices.values())
    waves = sorted({d["wave"] for d in devices})
    assert waves == [0, 1, 2, 3] and sum(d["wave"] == 0 for d in devices) == 1  # 5 % of 20, then 25/50/100 %
    for wave in waves[1:]:  # each wave sent only after the one before soaked healthy
        before = [d for d in devices if d["wave"] == wave - 1]
        first_sent = min(d["sent"] for d in devices if d["wave"] == wave)
        assert first_sent >= max(d["applied"] for d in before) + FAST["soak_s"]
    assert all(d["previous"] == 1 for d in devices)

    # fps -60 %, a crash loop (a restart every 3 s: the soak must outlast two of them), a tenth of the detections
    # (15 a second per device: the canary's 2 s baseline holds 30, over the 20 the band needs)
    for version, why, soak in ((3, "fps", 2.0), (4, "crash loop", 8.0), (5, "detection rate x0.", 2.0)):
        sim.settle()
        rollout, devices = sim.finish(sim.start(version, soak_s=soak))
        assert rollout["state"] == "rolled_back" and why in rollout["reason"], rollout["reason"]
        canary = [d for d in devices if d["wave"] == 0]
        later = [d for d in devices if d["wave"] > 0]
        assert [d["state"] for d in canary] == ["rolled_back"] and all(d["state"] == "pending" for d in later)
        for d in canary:
            sim_device = sim.devices[f"{d['store']}/{d['device']}"]
            assert sim_device.versions[-2:] == [version, 2] and sim_device.running() == 2
        for d in later:
            assert version not in sim.devices[f"{d['store']}/{d['device']}"].versions


@pytest.mark.slow
def test_a_rollout_resumes_after_a_collector_restart(sim: Sim) -> None:
    rollout_id = sim.start(2, soak_s=4.0)
    rollouts = RolloutStore(sim.store)
    wait_for(lambda: any(d["state"] == "applied" for d in rollouts.devices(rollout_id)), 30, "the canary applied")
    sim.collector.stop()
    time.sleep(1.0)
    sim.collector = Collector(sim.config, api=False)  # same store, same client ids: the session and lease resume
    sim.collector.start()
    rollout, devices = sim.finish(rollout_id)
    assert rollout["state"] == "done", rollout["reason"]
    assert [d["state"] for d in devices] == ["healthy"] * N
    assert all(d.running() == 2 for d in sim.devices.values())


@pytest.mark.slow
def test_abort_by_hand_rolls_back_every_device_that_got_it(sim: Sim) -> None:
    rollout_id = sim.start(2, soak_s=30.0)
    rollouts = RolloutStore(sim.store)
    wait_for(lambda: all(d["state"] == "applied" for d in rollouts.devices(rollout_id) if d["wave"] == 0), 30,
             "the canary applied")
    result = subprocess.run([*SMARTSTORE, "fleet", "rollout-abort", str(rollout_id), "--db", str(sim.config.store)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    rollout, devices = sim.finish(rollout_id)
    assert rollout["state"] == "rolled_back" and rollout["reason"] == "aborted by hand"
    assert [d["state"] for d in devices if d["wave"] == 0] == ["rolled_back"]
    assert all(d.running() == 1 for d in sim.devices.values())
    with pytest.raises(RolloutError, match="already rolled_back"):
        abort_rollout(sim.store, rollout_id)


@pytest.mark.slow
def test_cli_rollout_waits_and_exits_1_when_rolled_back(sim: Sim) -> None:
    result = subprocess.run([*SMARTSTORE, "fleet", "rollout", str(sim.fleet.manifest(3)), "--all", "--soak", "2s",
                             "--baseline", "2s", "--health-timeout", "4s", "--apply-timeout", "30s", "--wait",
                             "--db", str(sim.config.store)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1, result.stderr
    rollout = RolloutStore(sim.store).get(int(result.stdout))
    assert rollout is not None and rollout["state"] == "rolled_back"
    assert f"roll-out {rollout['id']} rolled_back: " in result.stderr and "fps" in result.stderr
    assert "running wave 0: pending=" in result.stderr and "wave 1" not in result.stderr  # followed; no wave 1


@pytest.mark.slow
def test_a_rollout_through_the_enrolled_broker_accounts(tmp_path: Path) -> None:
    """Broker accounts and ACLs from ``smartstore fleet enroll``: the collector's account publishes the commands,
    each device reads only its own and replies on its own reply topic."""
    files = BrokerFiles(tmp_path / "broker")
    collector = files.enroll_collector()
    names = Fleet.device_names(4, 4)
    passwords = {f"{s}/{d}": files.enroll_device(s, d).password for s, d in names}
    broker = LocalBroker(tmp_path / "mosquitto", extra_conf=documented_settings(files.folder)).start()
    try:
        with running(broker.port, tmp_path, 4, passwords, collector.password) as sim:
            rollout, devices = sim.finish(sim.start(2))
            assert rollout["state"] == "done" and [d["state"] for d in devices] == ["healthy"] * 4
            sim.settle()
            rollout, devices = sim.finish(sim.start(3))
            assert rollout["state"] == "rolled_back" and "fps" in rollout["reason"]
            assert sorted(d["state"] for d in devices) == ["pending"] * 3 + ["rolled_back"]
            assert all(d.running() == 2 for d in sim.devices.values())
    finally:
        broker.stop()


def test_waves_plan_the_canary_first_and_cover_every_device_once() -> None:
    devices = [(f"s{i % 7}", f"d{i}") for i in range(200)]
    plan = plan_waves(devices, RolloutSettings.model_validate({}), "m/2")
    sizes = [sum(w == k for _, _, w in plan) for k in range(4)]
    assert sizes == [10, 40, 50, 100] and sorted((s, d) for s, d, _ in plan) == sorted(devices)
    assert len({s for s, _, w in plan if w == 0}) > 3  # the canary spreads over stores
    assert plan == plan_waves(list(reversed(devices)), RolloutSettings.model_validate({}), "m/2")
    assert [w for _, _, w in plan_waves(devices[:3], RolloutSettings.model_validate({}), "m/2")] == [0, 1, 2]


@pytest.mark.parametrize(("fields", "message"), [
    ({"waves": [0.5, 0.9]}, "the last wave must be 100%"),
    ({"canary": 0.5, "waves": [0.25, 1.0]}, "must grow"),
    ({"detection_band": (1.5, 2.0)}, "LOW < 1 < HIGH"),
])
def test_settings_refuse_waves_that_do_not_make_sense(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutSettings.model_validate(fields)
