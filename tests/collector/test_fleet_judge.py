"""What counts as a regression (collector.fleet.judge), and the roll-out tables on SQLite and PostgreSQL
(collector.fleet.rollout_store): replies move devices forward only, one replica holds a roll-out's lease."""

from __future__ import annotations

from typing import Any

from collector.fleet import judge
from collector.fleet.health_watch import HealthWatch, Reading, detections
from collector.fleet.rollout_plan import RolloutSettings
from collector.fleet.rollout_store import RolloutStore
from collector.store import Store
from collector.validation import check_event
from contract import Event

SETTINGS = RolloutSettings.model_validate({"soak_s": 10, "health_timeout_s": 5, "max_fps_drop": 0.2})
BASE = {"fps": 10.0, "readings": 5, "version": 1, "sha256": None, "detections": 40, "window_s": 20.0}


def readings(fps: list[float], version: int | None = 2, start: float = 100.0, uptimes: list[float] | None = None,
             step: float = 1.0) -> list[Reading]:
    uptimes = uptimes or [50.0 + i for i in range(len(fps))]
    return [Reading(start + i * step, "periodic", f, u, version, None) for i, (f, u) in enumerate(zip(fps, uptimes,
                                                                                                    strict=True))]


def test_fps_is_judged_from_the_second_reading_after_the_switch() -> None:
    assert judge.regression(readings([2.0, 9.0, 9.0]), BASE, 99.0, 2, SETTINGS, 103.0) is None
    why = judge.regression(readings([10.0, 7.0, 7.5]), BASE, 99.0, 2, SETTINGS, 103.0)
    assert why is not None and why.startswith("fps 7.25 vs 10.00 before (-28%")
    assert judge.regression(readings([10.0, 7.0]), BASE, 99.0, 2, SETTINGS, 102.0) is None  # one judged: too few
    old = readings([4.0, 4.0], version=1) + readings([10.0, 10.0, 10.0], start=102.0)  # health from before the switch
    assert judge.regression(old, BASE, 99.0, 2, SETTINGS, 105.0) is None
    assert judge.regression(readings([4.0, 4.0], version=1), BASE, 99.0, 2, SETTINGS, 106.0) == (
        "runs version 1, not 2, 7 s after applying")
    assert judge.regression(readings([10.0, 4.0, 4.0], version=None), BASE, 99.0, 2, SETTINGS, 103.0) is not None


def test_crash_loops_and_a_pipeline_that_is_down() -> None:
    one = readings([10.0] * 4, uptimes=[50.0, 1.0, 2.0, 3.0])
    assert judge.restarts(one) == 1 and judge.regression(one, BASE, 99.0, 2, SETTINGS, 104.0) is None
    two = readings([10.0] * 4, uptimes=[50.0, 1.0, 2.0, 0.5])
    assert judge.regression(two, BASE, 99.0, 2, SETTINGS, 104.0) == "crash loop: 2 restarts since applied"
    assert judge.regression(readings([10.0, 10.0]), BASE, 99.0, 2, SETTINGS, 107.0) == (
        "pipeline down: no health for 6 s")
    assert judge.regression(readings([10.0, 0.0]), BASE, 99.0, 2, SETTINGS, 101.5) == "pipeline down: 0 fps"
    assert judge.regression([], BASE, 99.0, 2, SETTINGS, 103.0) is None  # no health yet, within the timeout
    assert judge.regression([], BASE, 99.0, 2, SETTINGS, 105.0) == "pipeline down: no health for 6 s"


def test_healthy_needs_the_soak_and_readings_on_the_new_version() -> None:
    good = readings([10.0] * 12)
    assert not judge.healthy(good, 100.0, 2, SETTINGS, 109.0)
    assert judge.healthy(good, 100.0, 2, SETTINGS, 110.0)
    assert not judge.healthy(readings([10.0] * 12, version=1), 100.0, 2, SETTINGS, 120.0)


def test_the_detection_band_is_judged_over_the_wave_and_only_with_enough_detections() -> None:
    wave = [{"store": "s", "device": f"d{i}", "applied": 100.0, "baseline": dict(BASE, detections=10)}
            for i in range(3)]
    after_ok = {("s", f"d{i}"): 5 for i in range(3)}  # 15 in 30 device-seconds vs 30 in 60
    assert judge.detection_band(wave, after_ok, SETTINGS, 110.0) is None
    assert judge.detection_band(wave, {("s", "d0"): 1}, SETTINGS, 110.0) == (
        "detection rate x0.07 of before, outside the band 0.5..2")
    assert judge.detection_band(wave, {k: 14 for k in after_ok}, SETTINGS, 110.0) == (  # 42 in 30 s: x2.8
        "detection rate x2.80 of before, outside the band 0.5..2")
    quiet = [dict(d, baseline=dict(BASE, detections=5)) for d in wave]  # 15 before: under min_detections
    assert judge.detection_band(quiet, {}, SETTINGS, 110.0) is None


def _health(device: str, seq: int, fps: float, version: int) -> Any:
    data = {"reason": "periodic", "uptime_s": 10.0 + seq, "fps": fps,
            "model": {"name": "m", "version": version, "sha256": "a" * 64}}
    event = Event("device.health", "s1", device, seq, data)
    return check_event(event.topic(), event.to_json())


def test_rollout_tables_and_health_on_both_backends(store: Store) -> None:
    rollouts = RolloutStore(store)
    rid = rollouts.create("model", "m", 2, {"body": {}}, SETTINGS.model_dump(), [("s1", "a", 0), ("s1", "b", 1)])
    created = rollouts.get(rid)
    assert rollouts.active() == [rid] and created is not None and created["settings"]["soak_s"] == 10
    assert rollouts.claim(rid, "replica-1", 30) and rollouts.claim(rid, "replica-1", 30)
    assert not rollouts.claim(rid, "replica-2", 30)  # held by replica-1 until its lease runs out
    assert rollouts.set_device(rid, "s1", "a", state="sent", command_id="c1", sent=1.0, baseline=BASE)
    assert rollouts.on_reply("c1", "accepted", None, {}) and rollouts.on_reply("c1", "applied", None, {"previous": 1})
    assert not rollouts.on_reply("c1", "accepted", None, {})  # late: no step back
    assert not rollouts.on_reply("unknown", "applied", None, {})
    assert rollouts.set_device(rid, "s1", "a", rollback_id="r1")
    assert rollouts.on_reply("r1", "applied", None, {"previous": 2})
    a, b = rollouts.devices(rid)
    assert (a["state"], a["previous"], a["baseline"], b["state"]) == ("rolled_back", 1, BASE, "pending")
    assert rollouts.listing()[0]["devices"] == {"rolled_back": 1, "pending": 1}
    assert not rollouts.set_device(rid, "s1", "b", only_from=("applied",), state="healthy")

    store.write_batch([_health("a", i, 9.0 + i, 2) for i in range(3)])
    crossing = Event("footfall.crossing", "s1", "a", 9, {"line": "l", "direction": "in", "track_id": 1}, camera="c")
    store.write_batch([check_event(crossing.topic(), crossing.to_json())])  # type: ignore[list-item]
    watch = HealthWatch(store, 0.0)
    watch.refresh()
    watch.refresh()  # read again from the overlap: nothing twice
    got = watch.window(("s1", "a"), 0.0)
    assert [(r.fps, r.version) for r in got] == [(9.0, 2), (10.0, 2), (11.0, 2)]
    assert detections(store, 0.0, got[-1].stored + 60) == {("s1", "a"): 1}
    assert detections(store, 0.0, got[-1].stored + 60, ("s1", "b")) == {}
