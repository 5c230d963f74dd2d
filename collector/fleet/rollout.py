"""Staged roll-outs of a signed model bundle or config, with automatic rollback (``docs/fleet.md``, Roll-outs).

:func:`create_rollout` stores a roll-out (waves planned, every device ``pending``); a collector drives it:
:class:`RolloutRunner` advances every active roll-out on a timer inside ``smartstore collector run``
(:class:`RolloutService`), so a restarted collector resumes where the store says it was. Per roll-out:

1. the current wave's pending devices are sent the existing signed command (``deploy_model`` or
   ``apply_config``) after their health of the last ``baseline_s`` is kept as their baseline (a device with no
   health in that window is offline: ``failed``, not sent, and no regression);
2. replies move devices ``sent`` -> ``accepted`` -> ``applied`` (or ``failed``); a health event naming the new
   version counts as applied too;
3. every device that applied is judged on each tick (:mod:`collector.fleet.judge`); one that soaked ``soak_s``
   without regressing is ``healthy``; the next wave starts when every device of this one is healthy and the
   wave's detection rate is within the band;
4. any regression (a failed reply, a timeout, a judged regression) ends the waves: the roll-out is
   ``rolling_back``, every device that got the new version is sent ``rollback`` to the version it ran before, and
   once they replied (or timed out) the roll-out is ``rolled_back``. :func:`abort_rollout` does the same by hand.

One collector replica drives a roll-out at a time (a lease in the store); replies are recorded by whichever
replica hears them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from collector.fleet import judge
from collector.fleet.health_watch import HealthWatch, detections
from collector.fleet.rollout_plan import RolloutError, RolloutSettings, plan_waves
from collector.fleet.rollout_store import RolloutStore
from collector.store import Store
from contract.commands import Command, ContractError, Manifest, Reply
from contract.events import utc_now

log = logging.getLogger("smartstore.fleet")
IN_FLIGHT = ("sent", "accepted")
GOT_IT = ("applied", "healthy")


class Sender(Protocol):
    def send(self, command: Command, expiry_s: float) -> None: ...

    def connected(self) -> bool: ...


def load_manifest(path: Path) -> tuple[dict[str, Any], Manifest]:
    """A signed manifest file (``smartstore bundle sign``) and its body; RolloutError naming the file otherwise."""
    try:
        signed = json.loads(path.read_text())
    except OSError as exc:
        raise RolloutError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise RolloutError(f"{path}: not JSON (expected a manifest from smartstore bundle sign)") from None
    if not isinstance(signed, dict) or not isinstance(signed.get("body"), dict) \
            or not isinstance(signed.get("signature"), dict):
        raise RolloutError(f"{path}: unsigned (sign it with smartstore bundle sign; boxes refuse unsigned ones)")
    try:
        return signed, Manifest.from_body(signed["body"])
    except ContractError as exc:
        raise RolloutError(f"{path}: {exc}") from None


def targets(store: Store, manifest: Manifest, stores: list[str] | None, devices: list[str] | None
            ) -> list[tuple[str, str]]:
    """The devices of ``stores`` (as the collector knows them), ``devices`` (``STORE/DEVICE``), or every known
    device the manifest is signed for (neither given); RolloutError for a named one it is not signed for."""
    chosen: list[tuple[str, str]] = []
    for name in stores or []:
        found = [(d["store"], d["device"]) for d in store.devices(name)]
        if not found:
            raise RolloutError(f"--stores: no device of store {name!r} has reported to this collector")
        chosen += found
    for item in devices or []:
        store_id, _, device = item.partition("/")
        if not store_id or not device:
            raise RolloutError(f"--devices: expected STORE/DEVICE, got {item!r}")
        chosen.append((store_id, device))
    if stores is None and devices is None:
        return [(d["store"], d["device"]) for d in store.devices() if manifest.for_device(d["store"], d["device"])]
    for store_id, device in chosen:
        if not manifest.for_device(store_id, device):
            raise RolloutError(f"{manifest.name} version {manifest.version} is signed for stores "
                               f"{list(manifest.stores)} devices {list(manifest.devices)}, not {store_id}/{device}")
    return sorted(set(chosen))


def create_rollout(store: Store, signed: dict[str, Any], manifest: Manifest, devices: list[tuple[str, str]],
                   settings: RolloutSettings) -> int:
    """Store a new roll-out (waves planned); the collector's runner starts it on its next tick."""
    if not devices:
        raise RolloutError("no devices to roll out to")
    rollouts = RolloutStore(store)
    for active in rollouts.active():
        other = rollouts.get(active)
        if other is not None and other["name"] == manifest.name:
            raise RolloutError(f"roll-out {active} of {manifest.name} is still {other['state']}: wait for it or "
                               f"abort it (smartstore fleet rollout-abort {active})")
    plan = plan_waves(devices, settings, f"{manifest.name}/{manifest.version}")
    return rollouts.create(manifest.type, manifest.name, manifest.version, signed, settings.model_dump(), plan)


def abort_rollout(store: Store, rollout_id: int, reason: str = "aborted by hand") -> dict[str, Any]:
    """Stop a roll-out's waves and roll back every device that got its version (a finished one too)."""
    rollouts = RolloutStore(store)
    rollout = rollouts.get(rollout_id)
    if rollout is None:
        raise RolloutError(f"no roll-out {rollout_id} (smartstore fleet rollout-status)")
    if rollout["state"] in ("rolling_back", "rolled_back"):
        raise RolloutError(f"roll-out {rollout_id} is already {rollout['state']}")
    rollouts.update(rollout_id, state="rolling_back", reason=reason, wave_started=time.time(), finished=None)
    return rollouts.get(rollout_id) or rollout


class RolloutRunner:
    """Advances the store's active roll-outs; ``tick()`` from one thread, ``on_reply`` from any."""

    def __init__(self, store: Store, sender: Sender, owner: str, lease_s: float = 30.0) -> None:
        self.store = store
        self.rollouts = RolloutStore(store)
        self.sender = sender
        self.owner = owner
        self.lease_s = lease_s
        self.watch: HealthWatch | None = None

    def on_reply(self, reply: Reply) -> None:
        if self.rollouts.on_reply(reply.id, reply.state, reply.reason, reply.detail):
            log.info("fleet: %s/%s %s %s %s", reply.store, reply.device, reply.command, reply.state,
                     reply.reason or "")

    def tick(self, now: float | None = None) -> None:
        """One step of every active roll-out this collector may drive."""
        active = [r for r in (self.rollouts.get(i) for i in self.rollouts.active()) if r is not None]
        if not active:
            self.watch = None
            return
        since = min((r["created"] - r["settings"]["baseline_s"] for r in active if r["state"] == "running"),
                    default=time.time())  # rolling back reads no health (an old roll-out rolled back by hand)
        if self.watch is None:
            self.watch = HealthWatch(self.store, since)
        self.watch.rewind(since)
        self.watch.refresh()
        self.watch.prune(since)
        for rollout in active:
            if self.rollouts.claim(rollout["id"], self.owner, self.lease_s):
                self.advance(rollout, time.time() if now is None else now)

    # ---- one roll-out ----------------------------------------------------------------------------------
    def advance(self, rollout: dict[str, Any], now: float) -> None:
        settings = RolloutSettings.model_validate(rollout["settings"])
        devices = self.rollouts.devices(rollout["id"])
        if rollout["state"] == "rolling_back":
            self._rolling_back(rollout, devices, settings, now)
            return
        pending = [d for d in devices if d["wave"] == rollout["wave"] and d["state"] == "pending"]
        if pending and self.sender.connected():  # sent once the broker connection is up, not queued blind
            self._send_wave(rollout, pending, settings, now)
            devices = self.rollouts.devices(rollout["id"])
        regressed = [(d, why) for d in devices if (why := self._judge(rollout, d, settings, now))]
        if regressed:
            first, why = regressed[0]
            more = f" (and {len(regressed) - 1} more)" if len(regressed) > 1 else ""
            self._start_rollback(rollout, f"{first['store']}/{first['device']}: {why}{more}", now)
            return
        self._next_wave(rollout, self.rollouts.devices(rollout["id"]), settings, now)

    def _send_wave(self, rollout: dict[str, Any], pending: list[dict[str, Any]], settings: RolloutSettings,
                   now: float) -> None:
        assert self.watch is not None
        counts = detections(self.store, now - settings.baseline_s, now)
        signed = self.rollouts.manifest(rollout["id"])
        command = "deploy_model" if rollout["kind"] == "model" else "apply_config"
        args = {"bundle": signed} if rollout["kind"] == "model" else {"config": signed}
        for d in pending:
            key = (d["store"], d["device"])
            readings = self.watch.window(key, now - settings.baseline_s, now)
            base = judge.baseline(readings, counts.get(key, 0), now - settings.baseline_s, now)
            if base is None:
                self.rollouts.set_device(rollout["id"], *key, state="failed", reason=(
                    f"offline: no device.health in the {settings.baseline_s:g} s before its wave; not sent"))
                continue
            cmd = Command(command, *key, args=args, expires=utc_now() + timedelta(seconds=settings.apply_timeout_s))
            self.rollouts.set_device(rollout["id"], *key, state="sent", command_id=cmd.id, sent=now, baseline=base,
                                     reason=None)
            self.sender.send(cmd, settings.apply_timeout_s)
        log.info("fleet: roll-out %s (%s %s): wave %s sent to %d devices", rollout["id"], rollout["name"],
                 rollout["version"], rollout["wave"], len(pending))

    def _judge(self, rollout: dict[str, Any], d: dict[str, Any], settings: RolloutSettings, now: float
               ) -> str | None:
        """Move one sent device on (applied by health, healthy, failed); the regression it shows, if any."""
        assert self.watch is not None
        if d["sent"] is None:
            return None
        key, rid = (d["store"], d["device"]), rollout["id"]
        version = rollout["version"] if rollout["kind"] == "model" else None
        if d["state"] in IN_FLIGHT:
            seen = [r for r in self.watch.window(key, d["sent"]) if version is not None and r.version == version]
            if seen:
                self.rollouts.set_device(rid, *key, only_from=IN_FLIGHT, state="applied", applied=seen[0].stored,
                                         reason="applied (seen in health)")
                return None
            if now - d["sent"] > settings.apply_timeout_s:
                late = f"no applied reply within {settings.apply_timeout_s:g} s"
                self.rollouts.set_device(rid, *key, only_from=IN_FLIGHT, state="failed", reason=late)
                return late
            return None
        if d["state"] == "failed":
            return str(d["reason"] or "failed")
        if d["state"] not in GOT_IT:
            return None
        readings = self.watch.window(key, d["applied"])
        why = judge.regression(readings, d["baseline"], d["applied"], version, settings, now)
        if why is not None:
            self.rollouts.set_device(rid, *key, only_from=GOT_IT, state="failed", reason=why)
            return why
        if d["state"] == "applied" and judge.healthy(readings, d["applied"], version, settings, now):
            self.rollouts.set_device(rid, *key, only_from=("applied",), state="healthy",
                                     reason=f"healthy for {now - d['applied']:.0f} s")
        return None

    def _next_wave(self, rollout: dict[str, Any], devices: list[dict[str, Any]], settings: RolloutSettings,
                   now: float) -> None:
        wave = [d for d in devices if d["wave"] == rollout["wave"]]
        if not all(d["state"] == "healthy" or (d["state"] == "failed" and d["sent"] is None) for d in wave):
            return
        sent = [d for d in wave if d["sent"] is not None]
        if sent:
            keys = [(d["store"], d["device"]) for d in sent]
            after = {k: detections(self.store, d["applied"], now, k).get(k, 0) for k, d in zip(keys, sent, strict=True)}
            why = judge.detection_band(sent, after, settings, now)
            if why is not None:
                self._start_rollback(rollout, f"wave {rollout['wave']}: {why}", now)
                return
        last = max(d["wave"] for d in devices)
        if rollout["wave"] >= last:
            healthy = sum(d["state"] == "healthy" for d in devices)
            self.rollouts.update(rollout["id"], state="done", finished=now,
                                 reason=f"{healthy} of {len(devices)} devices healthy")
            log.info("fleet: roll-out %s (%s %s) done: %d of %d devices healthy in %.1f s", rollout["id"],
                     rollout["name"], rollout["version"], healthy, len(devices), now - rollout["created"])
            return
        self.rollouts.update(rollout["id"], wave=rollout["wave"] + 1, wave_started=now)
        log.info("fleet: roll-out %s: wave %d healthy for %g s; wave %d starts", rollout["id"], rollout["wave"],
                 settings.soak_s, rollout["wave"] + 1)

    # ---- rollback --------------------------------------------------------------------------------------
    def _start_rollback(self, rollout: dict[str, Any], reason: str, now: float) -> None:
        log.error("fleet: roll-out %s (%s %s) regressed: %s; rolling back", rollout["id"], rollout["name"],
                  rollout["version"], reason)
        self.rollouts.update(rollout["id"], state="rolling_back", reason=reason, wave_started=now)
        rollout = dict(rollout, state="rolling_back", wave_started=now)
        self._rolling_back(rollout, self.rollouts.devices(rollout["id"]), RolloutSettings.model_validate(
            rollout["settings"]), now)

    def _rolling_back(self, rollout: dict[str, Any], devices: list[dict[str, Any]], settings: RolloutSettings,
                      now: float) -> None:
        """Send ``rollback`` to every device that has the new version; finish once they all answered."""
        if not self.sender.connected():
            return  # the next tick, once the broker is back
        waiting = 0
        for d in devices:
            key = (d["store"], d["device"])
            if d["sent"] is None or d["state"] == "rolled_back":
                continue
            if d["rollback_id"] is not None:
                if d["state"] != "failed" or not str(d["reason"]).startswith("rollback failed"):
                    if now - rollout["wave_started"] > settings.apply_timeout_s:
                        self.rollouts.set_device(rollout["id"], *key, state="failed", reason="no rollback reply")
                    else:
                        waiting += 1
                continue
            target = d["previous"]
            if target is None and rollout["kind"] == "model":  # health names the model's version, not a config's
                target = (d["baseline"] or {}).get("version")
            if d["applied"] is None and (d["state"] not in IN_FLIGHT or target is None):
                if d["state"] in IN_FLIGHT and now - d["sent"] <= settings.apply_timeout_s:
                    waiting += 1  # may still apply: wait for its reply, then roll it back
                continue  # refused or timed out: it kept its version
            args: dict[str, Any] = {"name": rollout["name"]}
            if target is not None:
                args["version"] = int(target)
            cmd = Command("rollback", *key, args=args,
                          expires=utc_now() + timedelta(seconds=settings.apply_timeout_s))
            self.rollouts.set_device(rollout["id"], *key, rollback_id=cmd.id)
            self.sender.send(cmd, settings.apply_timeout_s)
            waiting += 1
        if waiting == 0:
            done = sum(d["state"] == "rolled_back" for d in self.rollouts.devices(rollout["id"]))
            self.rollouts.update(rollout["id"], state="rolled_back", finished=now)
            log.info("fleet: roll-out %s rolled back (%d devices back on their version) in %.1f s", rollout["id"],
                     done, now - rollout["wave_started"])


class RolloutService:
    """The runner on a timer with its own MQTT connection (:class:`~collector.fleet.commander.Commander`)."""

    def __init__(self, store: Store, mqtt: Any, tick_s: float = 1.0, lease_s: float = 30.0) -> None:
        from collector.fleet.commander import Commander

        self.tick_s = tick_s
        self.commander = Commander(mqtt, self._on_reply)
        self.runner = RolloutRunner(store, self.commander, mqtt.client_id, lease_s)
        self._thread: threading.Thread | None = None

    def _on_reply(self, reply: Reply) -> None:
        self.runner.on_reply(reply)

    def start(self, stop: threading.Event) -> threading.Thread:
        self.commander.start()
        self._thread = threading.Thread(target=self._run, args=(stop,), name="rollouts", daemon=True)
        self._thread.start()
        return self._thread

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick_s):
            try:
                self.runner.tick()
            except Exception:  # the store may be down for a moment: the next tick tries again
                log.exception("fleet: roll-out step failed")
                self.runner.store.reset()
        self.commander.stop()
