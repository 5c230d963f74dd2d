"""Fleet simulation: lightweight simulated devices speaking the edge's protocol, and staged roll-outs to them.

    .venv/bin/python tools/bench/fleet_sim.py --devices 200 --stores 20 --processes 4 --soak 20s

Each simulated device has its own MQTT 5 client (client id ``sim-<store>-<device>``, persistent session) on one
real Mosquitto, subscribes to its own command topic and hands every command to the edge's own
:class:`edge.commands.CommandChannel`: the same verification (``contract.signing`` and the fleet public key, scope,
downgrade), the same fetch over HTTP and the same versioned :class:`edge.bundles.BundleStore` as a box. Only the
detector is simulated (:class:`SimHost`): "running" a model bundle reads its ``sim.json``::

    {"fps_factor": 0.4}          # the device's fps drops 60 %
    {"crash_every_s": 3}         # the process "restarts" every 3 s (uptime resets, a startup health)
    {"detection_factor": 0.1}    # a tenth of the detections

(no ``sim.json``: runs as before). Every device publishes a device-level ``device.health`` every ``--health``
seconds (fps around ``--fps``, uptime, ``model: {name, version, sha256}``) and ``footfall.crossing`` events at
``--detections`` per minute times its detection factor. The collector is the real one (ingest, store, the
roll-out runner on its timer); bundles are served by a loopback HTTP server.

The run: every device installs version 1 through its command channel; then a good version 2 is rolled out to all
(canary, waves), then each bad version of ``--bad`` (:data:`BEHAVIOURS`), which the canary must roll back before
any later wave. Prints one JSON object: times to full roll-out and to rollback, and what every device loaded.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import multiprocessing as mp
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import topics
from contract.commands import Command
from contract.events import Event
from contract.messages import status_payload
from contract.signing import generate_keypair, load_private_key, sign_bundle
from edge.commands import CommandChannel
from edge.fetch import sha256_of
from edge.fleet_config import FleetConfig

MODEL = "sim-detector"
SIM_FILE = "sim.json"
WEIGHTS = "weights.bin"
#: the simulation's bundles: 1 and 2 good, 3 drops fps 60 %, 4 crash-loops, 5 loses 90 % of the detections
BEHAVIOURS: dict[int, dict[str, Any] | None] = {1: None, 2: None, 3: {"fps_factor": 0.4}, 4: {"crash_every_s": 3.0},
                                                5: {"detection_factor": 0.1}}


@dataclass(frozen=True)
class Behaviour:
    """How a simulated device runs a bundle (its ``sim.json``)."""

    fps_factor: float = 1.0
    crash_every_s: float | None = None
    detection_factor: float = 1.0

    @classmethod
    def of(cls, folder: Path | None) -> Behaviour:
        path = None if folder is None else folder / SIM_FILE
        if path is None or not path.is_file():
            return cls()
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from None


class SimHost:
    """The :class:`edge.commands.CommandHost` of a simulated device: loading a model is reading its behaviour."""

    def __init__(self) -> None:
        self.model_name = MODEL
        self.behaviour = Behaviour()
        self.sha256 = "0" * 64
        self.config: dict[str, Any] = {}
        self.loaded: list[Path | None] = []

    def apply_config(self, config: dict[str, Any]) -> list[str]:
        self.config = config
        return []

    def restart_pipeline(self, model_dir: Path | None) -> None:
        self.behaviour = Behaviour.of(model_dir)
        self.sha256 = sha256_of(model_dir / WEIGHTS) if model_dir is not None else "0" * 64
        self.loaded.append(model_dir)

    def status(self) -> dict[str, Any]:
        return {"model": MODEL, "behaviour": self.behaviour.__dict__}


@dataclass
class SimDevice:
    """One simulated device: its MQTT client, the edge's command channel, its health and detections."""

    store: str
    device: str
    root: Path
    keys: Path
    port: int
    fps: float = 10.0
    detections_per_min: float = 30.0
    prefix: str = topics.TOPIC_PREFIX
    password: str | None = None  # its broker account's (smartstore fleet enroll: the account is STORE/DEVICE)
    host: SimHost = field(default_factory=SimHost)

    def __post_init__(self) -> None:
        fleet = FleetConfig(public_keys=self.keys, bundle_dir=self.root / "bundles", fetch_timeout_s=10,
                            fetch_attempts=3)
        self.channel = CommandChannel(fleet, self.store, self.device, self.prefix, self.host, self._send, self.root)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{self.store}-{self.device}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_queued_messages_set(0)
        if self.password is not None:
            self.client.username_pw_set(f"{self.store}/{self.device}", self.password)
        self.client.will_set(topics.status_topic(self.store, self.device, self.prefix),
                             status_payload(self.store, self.device, "offline"), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.seq = 0
        self.booted = time.monotonic()
        self._owed = 0.0
        self._last = time.monotonic()
        self._rng = random.Random(f"{self.store}/{self.device}")

    # ---- MQTT ------------------------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        client.subscribe(topics.command_topic(self.store, self.device, self.prefix), qos=1)
        client.publish(topics.status_topic(self.store, self.device, self.prefix),
                       status_payload(self.store, self.device, "online"), qos=1, retain=True)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        self.channel.on_message(bytes(msg.payload), getattr(props, "ResponseTopic", None),
                                getattr(props, "CorrelationData", None))

    def _send(self, topic: str, payload: bytes, correlation: bytes | None) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        self.client.publish(topic, payload, qos=1, properties=props)

    def start(self) -> SimDevice:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        self.channel.start()
        return self

    def stop(self) -> None:
        self.channel.stop()
        self.client.disconnect()
        self.client.loop_stop()

    # ---- what it runs ----------------------------------------------------------------------------------
    def install(self, signed: dict[str, Any]) -> None:
        """Version 1 through the command channel, as a ``deploy_model`` from the collector would."""
        self.channel.apply(Command("deploy_model", self.store, self.device, args={"bundle": signed}))

    def running(self) -> int | None:
        return self.channel.bundles.current(MODEL)

    @property
    def versions(self) -> list[int]:
        """Every version it loaded (deploys and rollbacks), in order."""
        return [int(p.name) for p in self.host.loaded if p is not None]

    def _publish(self, kind: str, data: dict[str, Any], camera: str | None = None) -> None:
        event = Event(kind, self.store, self.device, self.seq, data, camera=camera)
        self.seq += 1
        self.client.publish(event.topic(self.prefix), event.to_json(), qos=1)

    def tick(self) -> None:
        """One health event, and the detections since the last tick."""
        now = time.monotonic()
        version = self.running()
        behaviour = self.host.behaviour
        reason = "periodic"
        if behaviour.crash_every_s is not None and now - self.booted >= behaviour.crash_every_s:
            self.booted, reason = now, "startup"
        fps = self.fps * behaviour.fps_factor * self._rng.uniform(0.95, 1.05)
        self._publish("device.health", {
            "reason": reason, "uptime_s": round(now - self.booted, 3), "fps": round(fps, 2),
            "model": {"name": MODEL, "version": version or 1, "sha256": self.host.sha256}})
        self._owed += (now - self._last) * self.detections_per_min / 60 * behaviour.detection_factor
        self._last = now
        while self._owed >= 1:
            self._owed -= 1
            self._publish("footfall.crossing", {"line": "door", "direction": "in", "track_id": self.seq}, "cam1")


def run_devices(devices: list[SimDevice], first: dict[str, Any], health_s: float, stop: threading.Event) -> None:
    """Start ``devices``, install version 1 on each, then tick their health until ``stop``."""
    for device in devices:
        device.start()
    for device in devices:
        device.install(first)
    step = health_s / max(1, len(devices))
    while not stop.is_set():
        started = time.monotonic()
        for device in devices:  # staggered over the interval
            device.tick()
            stop.wait(max(0.0, step - 0.0005))
        stop.wait(max(0.0, health_s - (time.monotonic() - started)))
    for device in devices:
        device.stop()


def _worker(names: list[tuple[str, str]], root: str, keys: str, port: int, first: dict[str, Any],
            health_s: float, stop: Any, results: Any) -> None:
    """One process of devices; puts ``{store/device: {versions, running}}`` on ``results`` when stopped."""
    devices = [SimDevice(s, d, Path(root) / s / d, Path(keys), port) for s, d in names]
    flag = threading.Event()

    def relay() -> None:
        stop.wait()
        flag.set()

    threading.Thread(target=relay, daemon=True).start()
    run_devices(devices, first, health_s, flag)
    results.put({f"{d.store}/{d.device}": {"versions": d.versions, "running": d.running()} for d in devices})


# ---- bundles and their server ------------------------------------------------------------------------------
def make_bundle(root: Path, version: int, behaviour: dict[str, Any] | None) -> Path:
    """A model bundle folder ``root/<version>``: model.yaml, a weights file, and ``sim.json`` when it misbehaves."""
    folder = root / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.yaml").write_text(f"name: {MODEL}\nversion: {version}\n")
    (folder / WEIGHTS).write_bytes(hashlib.sha256(f"weights {version}".encode()).digest() * 64)
    if behaviour is not None:
        (folder / SIM_FILE).write_text(json.dumps(behaviour))
    return folder


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A loopback HTTP server for ``folder`` (the edge fetches plain HTTP from loopback only)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Fleet:
    """The signing key, the served bundles (:data:`BEHAVIOURS`) and the device names of a simulation."""

    root: Path
    devices: int
    stores: int

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.private, self.public = self.root / "fleet.key", self.root / "fleet.pub"
        generate_keypair(self.private, self.public)
        key = load_private_key(self.private)
        served = self.root / "served"
        self.server, url = serve(served)
        self.signed = {v: sign_bundle(key, MODEL, v, folder=make_bundle(served, v, b), url_base=f"{url}/{v}")
                       for v, b in BEHAVIOURS.items()}
        self.names = self.device_names(self.devices, self.stores)

    @staticmethod
    def device_names(devices: int, stores: int) -> list[tuple[str, str]]:
        """``(store, device)`` of the simulation's devices, spread over ``stores`` stores."""
        return [(f"store-{i % stores:03d}", f"sim-{i:04d}") for i in range(devices)]

    def manifest(self, version: int) -> Path:
        path = self.root / f"{MODEL}-{version}.json"
        path.write_text(json.dumps(self.signed[version]))
        return path

    def close(self) -> None:
        self.server.shutdown()


# ---- the run -----------------------------------------------------------------------------------------------
def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def roll_out(store: Any, fleet: Fleet, version: int, settings: Any, timeout: float) -> dict[str, Any]:
    """Create a roll-out of ``version`` to every device, wait until it finished; its row and device rows."""
    from collector.fleet.rollout import create_rollout, load_manifest
    from collector.fleet.rollout_store import RolloutStore

    signed, manifest = load_manifest(fleet.manifest(version))
    rollouts = RolloutStore(store)
    rollout_id = create_rollout(store, signed, manifest, sorted(fleet.names), settings)
    wait_until(lambda: (r := rollouts.get(rollout_id)) is not None and r["state"] in ("done", "rolled_back"),
               timeout, f"roll-out {rollout_id} of version {version}")
    rollout = rollouts.get(rollout_id)
    assert rollout is not None
    return {**rollout, "device_states": rollouts.devices(rollout_id)}


def summary(rollout: dict[str, Any]) -> dict[str, Any]:
    devices = rollout["device_states"]
    sent = [d["sent"] for d in devices if d["sent"] is not None]
    return {"id": rollout["id"], "version": rollout["version"], "state": rollout["state"],
            "reason": rollout["reason"], "waves": max(d["wave"] for d in devices) + 1,
            "devices_sent": len(sent), "states": {s: sum(d["state"] == s for d in devices)
                                                  for s in sorted({d["state"] for d in devices})},
            "seconds": round(rollout["finished"] - rollout["created"], 2),
            "to_regression_s": (round(rollout["wave_started"] - rollout["created"], 2)
                                if rollout["state"] == "rolled_back" else None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--health", type=float, default=2.0, help="seconds between health events")
    parser.add_argument("--soak", default="20s")
    parser.add_argument("--baseline", default="20s")
    parser.add_argument("--bad", default="3,4,5", help="bad versions rolled out after the good one (3: fps -60 %%, "
                        "4: crash loop, 5: detections -90 %%)")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    import tempfile

    bad = [int(v) for v in args.bad.split(",") if v]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        print(json.dumps(simulate(Path(tmp), args.devices, args.stores, args.processes, args.health, args.soak,
                                  args.baseline, bad), indent=1))


def simulate(root: Path, n: int, stores: int, processes: int, health_s: float, soak: str, baseline: str,
             bad: list[int]) -> dict[str, Any]:
    """Version 2 to every device, then each ``bad`` version; what happened (see the module docstring)."""
    from collector.config import load_config
    from collector.fleet.rollout_plan import RolloutSettings, duration
    from collector.service import Collector
    from tools.broker import LocalBroker

    broker = LocalBroker(root / "mosquitto").start()
    fleet = Fleet(root, n, stores)
    config = load_config(None, {"store": str(root / "collector.db"), "mqtt.port": broker.port,
                                "mqtt.client_id": "collector-sim", "rollouts.tick_s": 0.5})
    collector = Collector(config, api=False)
    collector.start()
    ctx = mp.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    chunks = [fleet.names[i::processes] for i in range(processes)]
    workers = [ctx.Process(target=_worker, args=(c, str(root / "devices"), str(fleet.public), broker.port,
                                                 fleet.signed[1], health_s, stop, results)) for c in chunks if c]
    soak_s, base_s = duration(soak, "--soak"), duration(baseline, "--baseline")
    rollouts: list[dict[str, Any]] = []
    ran: dict[str, Any] = {}
    try:
        started = time.monotonic()
        for w in workers:
            w.start()
        wait_until(lambda: _reporting(collector.store, n, base_s, health_s), 120 + n, "every device's health")
        ready_s = time.monotonic() - started
        settings = RolloutSettings.model_validate({"soak_s": soak_s, "baseline_s": base_s, "apply_timeout_s": 120,
                                                   "health_timeout_s": 10 * health_s})
        for version in [2, *bad]:
            rollouts.append(roll_out(collector.store, fleet, version, settings, 600 + 10 * soak_s))
            time.sleep(base_s)  # a baseline on version 2 for the next roll-out
    finally:
        stop.set()
        for _ in workers:
            ran.update(results.get(timeout=120))
        for w in workers:
            w.join(60)
        collector.stop()
        broker.stop()
        fleet.close()
    out: dict[str, Any] = {"devices": n, "stores": stores, "processes": processes, "health_s": health_s,
                           "soak_s": soak_s, "baseline_s": base_s, "ready_s": round(ready_s, 1), "rollouts": []}
    for rollout in rollouts:
        canary = {f"{d['store']}/{d['device']}" for d in rollout["device_states"] if d["wave"] == 0}
        v = rollout["version"]
        out["rollouts"].append({**summary(rollout), "behaviour": BEHAVIOURS[v], "canary": len(canary),
                                "loaded_outside_canary": sum(v in r["versions"] for k, r in ran.items()
                                                             if k not in canary),
                                "loaded_in_canary": sum(v in ran[k]["versions"] for k in canary)})
    out["running_at_end"] = {str(v): sum(r["running"] == v for r in ran.values()) for v in BEHAVIOURS}
    return out


def _reporting(store: Any, n: int, baseline_s: float, health_s: float) -> bool:
    """Every device has sent health for a baseline's length."""
    rows = store.rows("SELECT store, device, MIN(stored) AS first FROM events WHERE kind = 'device.health' "
                      "GROUP BY store, device")
    return len(rows) >= n and time.time() - max(r["first"] for r in rows) >= min(baseline_s, 3 * health_s) + health_s


if __name__ == "__main__":
    main()
