"""The simulated devices of the ingest load test (``tools/bench/ingest_load.py``): many paho clients per process.

Each :class:`LoadDevice` is one edge as the collector sees it: its own client id, a persistent MQTT 5 session
(``clean_start=False``, session expiry), QoS 1 contract envelopes (:class:`contract.events.Event`) with the
``outbox``/``floor`` user properties of an edge with receipts, a retained ``online`` status with an ``offline``
last will, and its own receipt topic (the floor it reports follows its receipts). :class:`DeviceLoop` drives a
process's clients from one selector (reads when a socket is readable, writes when paho wants to, keep-alives
every second); :func:`drive` publishes the :class:`Mix`, compressed ``speed`` times.
"""

from __future__ import annotations

import heapq
import random
import selectors
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import topics
from contract.events import Event
from contract.messages import parse_receipt, status_payload

SESSION_EXPIRY_S = 600


@dataclass(frozen=True)
class Mix:
    """What one device sends, in real (uncompressed) time."""

    burst_s: float = 40.0  # mean seconds between bursts of people crossing the door line (Poisson)
    burst_max: int = 4  # 1 to this many crossings per burst (uniform)
    occupancy_s: float = 15.0  # a periodic zone.occupancy, besides the one after every burst
    health_s: float = 30.0  # device.health (the edge's health_interval_s default)
    shelf_per_h: float = 4.0  # shelf.out_of_stock per hour, each followed by a shelf.restocked
    restock_s: float = 1200.0  # mean time a slot stays empty

    def per_second(self) -> dict[str, float]:
        """Mean events per second of each kind for one device."""
        crossing = (1 + self.burst_max) / 2 / self.burst_s
        return {"footfall.crossing": crossing, "zone.occupancy": 1 / self.burst_s + 1 / self.occupancy_s,
                "device.health": 1 / self.health_s, "shelf.out_of_stock": self.shelf_per_h / 3600,
                "shelf.restocked": self.shelf_per_h / 3600}


@dataclass
class LoadDevice:
    """One simulated device: its MQTT 5 client (persistent session), its seq, its PUBACKs and receipts."""

    store: str
    device: str
    port: int
    rng: random.Random
    prefix: str = topics.TOPIC_PREFIX
    outbox: str = field(default_factory=lambda: uuid.uuid4().hex)
    seq: int = 0
    receipt: int = -1
    occupancy: int = 0
    connects: int = 0
    started: float = field(default_factory=time.monotonic)
    empty: dict[str, float] = field(default_factory=dict)  # shelf slot -> since when it is empty

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"load-{self.store}-{self.device}",
                                  protocol=mqtt.MQTTv5)
        self.client.will_set(topics.status_topic(self.store, self.device, self.prefix),
                             status_payload(self.store, self.device, "offline"), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.sent: dict[int, str] = {}  # mid -> event id, until its PUBACK
        self.acked: list[str] = []
        self._props = Properties(PacketTypes.PUBLISH)  # rebuilt when the floor moves (paho packs it per publish)
        self._props.UserProperty = [("outbox", self.outbox), ("floor", "0")]

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: Any,
                    properties: object) -> None:
        if reason.is_failure:
            return
        self.connects += 1
        client.subscribe(topics.receipt_topic(self.store, self.device, self.prefix), qos=1)
        client.publish(topics.status_topic(self.store, self.device, self.prefix),
                       status_payload(self.store, self.device, "online"), qos=1, retain=True)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: Any, properties: object) -> None:
        event_id = self.sent.pop(mid, None)
        if event_id is not None and not reason.is_failure:
            self.acked.append(event_id)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        parsed = parse_receipt(bytes(msg.payload), self.store, self.device)
        if parsed is not None and parsed[0] == self.outbox and parsed[1] > self.receipt:
            self.receipt = parsed[1]
            self._props = Properties(PacketTypes.PUBLISH)
            self._props.UserProperty = [("outbox", self.outbox), ("floor", str(self.receipt + 1))]

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect("127.0.0.1", self.port, keepalive=60, clean_start=False, properties=props)

    @property
    def connected(self) -> bool:
        return self.connects > 0 and bool(self.client.is_connected())

    def publish(self, kind: str, data: dict[str, Any], camera: str | None = None) -> None:
        """One event as an edge publishes it: QoS 1, ``ts`` now, the outbox id and floor as user properties."""
        event = Event(kind, self.store, self.device, self.seq, data, camera=camera, ts=datetime.now(UTC))
        info = self.client.publish(event.topic(self.prefix), event.to_json(), qos=1, properties=self._props)
        self.sent[info.mid] = event.id
        self.seq += 1

    # ---- the mix --------------------------------------------------------------------------------------------
    def burst(self, mix: Mix) -> None:
        for _ in range(self.rng.randint(1, mix.burst_max)):
            direction = "in" if self.occupancy == 0 or self.rng.random() < 0.5 else "out"
            self.occupancy += 1 if direction == "in" else -1
            self.publish("footfall.crossing", {"line": "door", "direction": direction, "track_id": self.seq},
                         "cam1")
        self.occupancy_event()

    def occupancy_event(self) -> None:
        self.publish("zone.occupancy", {"zone": "entrance", "count": self.occupancy}, "cam1")

    def health(self) -> None:
        self.publish("device.health", {
            "reason": "periodic", "uptime_s": round(time.monotonic() - self.started, 3),
            "fps": round(self.rng.uniform(9.5, 10.5), 2), "inference_ms": round(self.rng.uniform(20, 40), 2),
            "dropped_frames": 0, "camera_state": "streaming", "reconnects": 0, "cpu_percent": 41.0,
            "engine": "openvino", "model": {"name": "person-detector", "version": 3, "sha256": "ab" * 32},
            "outbox": {"pending": len(self.sent), "unreceipted": self.seq - 1 - self.receipt,
                       "receipt_seq": self.receipt if self.receipt >= 0 else None}, "mqtt_connected": True})

    def out_of_stock(self) -> str:
        slot = f"A{self.rng.randint(1, 24)}"
        self.empty.setdefault(slot, time.time())
        self.publish("shelf.out_of_stock", {"shelf": "aisle-3", "slot": slot, "sku": f"sku-{slot}",
                                            "confidence": 0.91}, "cam2")
        return slot

    def restocked(self, slot: str) -> None:
        since = self.empty.pop(slot, time.time())
        self.publish("shelf.restocked", {"shelf": "aisle-3", "slot": slot, "sku": f"sku-{slot}",
                                         "empty_s": round(time.time() - since, 1)}, "cam2")


class DeviceLoop:
    """Many devices' paho clients on one selector: reads when a socket is readable, writes when paho wants to."""

    def __init__(self, devices: list[LoadDevice]) -> None:
        self.devices = devices
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[int, Any] = {}  # id(device) -> its registered socket
        self.reconnects = 0
        self._misc = 0.0

    def connect_all(self) -> None:
        for device in self.devices:
            device.connect()
            self._register(device)

    def _register(self, device: LoadDevice) -> None:
        sock = device.client.socket()
        if sock is not None:
            self.selector.register(sock, selectors.EVENT_READ, device)
            self.sockets[id(device)] = sock

    def _lost(self, device: LoadDevice) -> None:
        """The connection dropped: reconnect (same session: paho re-sends what is in flight)."""
        sock = self.sockets.pop(id(device), None)
        if sock is not None:
            self.selector.unregister(sock)
        self.reconnects += 1
        try:
            device.client.reconnect()
        except OSError:
            return  # step() tries again once a second
        self._register(device)

    def step(self, timeout: float) -> None:
        """Read what arrived within ``timeout`` s, finish pending writes, keep the sessions alive."""
        for key, _ in self.selector.select(max(0.0, timeout)):
            device: LoadDevice = key.data
            if device.client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(device)
        now = time.monotonic()
        for device in self.devices:
            if id(device) not in self.sockets:
                if now - self._misc >= 1.0:
                    self._lost(device)
            elif device.client.want_write() and device.client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(device)
        if now - self._misc >= 1.0:
            self._misc = now
            for device in self.devices:
                if id(device) in self.sockets and device.client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._lost(device)

    def run_until(self, done: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                return False
            self.step(0.02)
        return True


def schedule(devices: list[LoadDevice], mix: Mix, speed: float, start: float,
             rng: random.Random) -> list[tuple[float, int, int, str, str]]:
    """The first due time of each device's periodic and random events: ``(due, tie, device, what, slot)``."""
    heap: list[tuple[float, int, int, str, str]] = []
    for i in range(len(devices)):
        heap += [(start + rng.expovariate(speed / mix.burst_s), 0, i, "burst", ""),
                 (start + rng.uniform(0, mix.occupancy_s / speed), 0, i, "occupancy", ""),
                 (start + rng.uniform(0, mix.health_s / speed), 0, i, "health", ""),
                 (start + rng.expovariate(speed * mix.shelf_per_h / 3600), 0, i, "shelf", "")]
    heapq.heapify(heap)
    return heap


def drive(devices: list[LoadDevice], loop: DeviceLoop, mix: Mix, speed: float, start: float, end: float,
          rng: random.Random) -> None:
    """Publish the mix from ``start`` to ``end`` (wall clock), compressed ``speed`` times."""
    heap = schedule(devices, mix, speed, start, rng)
    while (now := time.time()) < end:
        while heap and heap[0][0] <= now:
            due, _, i, what, slot = heapq.heappop(heap)
            device = devices[i]
            if what == "burst":
                device.burst(mix)
                nxt = (due + rng.expovariate(speed / mix.burst_s), "burst", "")
            elif what == "occupancy":
                device.occupancy_event()
                nxt = (due + mix.occupancy_s / speed, "occupancy", "")
            elif what == "health":
                device.health()
                nxt = (due + mix.health_s / speed, "health", "")
            elif what == "shelf":
                empty = device.out_of_stock()
                heapq.heappush(heap, (due + rng.expovariate(speed / mix.restock_s), 0, i, "restock", empty))
                nxt = (due + rng.expovariate(speed * mix.shelf_per_h / 3600), "shelf", "")
            else:
                device.restocked(slot)
                continue
            heapq.heappush(heap, (nxt[0], 0, i, nxt[1], nxt[2]))
        loop.step(min(0.02, max(0.0, heap[0][0] - time.time())) if heap else 0.02)


def device_worker(names: list[tuple[str, str]], port: int, mix: Mix, speed: float, duration_s: float, seed: int,
                  receipts: bool, out: str, ready: Any, go: Any, results: Any) -> None:
    """One process of devices: connect, wait for ``go`` (the start time), publish, drain, report."""
    rng = random.Random(seed)
    devices = [LoadDevice(s, d, port, random.Random(f"{seed}/{s}/{d}")) for s, d in names]
    loop = DeviceLoop(devices)
    loop.connect_all()
    connected = loop.run_until(lambda: all(d.connected for d in devices), 120)
    ready.put(connected)
    start = go.get()
    drive(devices, loop, mix, speed, start, start + duration_s, rng)
    published_until = time.time()
    drained = loop.run_until(lambda: not any(d.sent for d in devices), 60)
    receipted = receipts and loop.run_until(lambda: all(d.receipt == d.seq - 1 for d in devices), 60)
    Path(out).write_text("".join(i + "\n" for d in devices for i in d.acked))
    results.put({"published": sum(d.seq for d in devices), "acked": sum(len(d.acked) for d in devices),
                 "unacked": sum(len(d.sent) for d in devices), "drained": drained, "receipted": receipted,
                 "devices_receipted": sum(d.receipt == d.seq - 1 for d in devices), "published_until": published_until,
                 "reconnects": loop.reconnects, "acked_file": out})
    for device in devices:
        device.client.publish(topics.status_topic(device.store, device.device, device.prefix),
                              status_payload(device.store, device.device, "offline", clean=True), qos=1, retain=True)
        device.client.disconnect()
    loop.run_until(lambda: False, 0.5)
