"""Home Assistant MQTT discovery (``homeassistant.enabled``, off by default): each camera's counting lines (people
in, people out) and zones (occupancy) appear as sensors of one Home Assistant device per box.

On every connect to its broker (``homeassistant.mqtt``, default the box's own ``mqtt:``) the box publishes, retained,
one discovery config per sensor on ``<discovery_prefix>/sensor/<node>/<object>/config`` and ``online`` on its
availability topic (its last will says ``offline``), then the latest value of every sensor, retained, on
``<state_prefix>/<store>/<device>/<camera>/<line or zone>/<in|out|occupancy>``: the running totals of the line
since the service started (``footfall.crossing``'s ``count_in``/``count_out``; Home Assistant's ``total_increasing``
takes the reset at a restart) and the zone's current count (``zone.occupancy``). These are copies for Home
Assistant only, never events: the outbox and the collector do not see them. See docs/edge-service.md.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from contract.events import Record
from edge.config import EdgeConfig, MqttConfig
from edge.mqtt_connection import Connection

ONLINE, OFFLINE = b"online", b"offline"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


class HomeAssistant(Connection):
    """The discovery configs and sensor states of ``config``'s cameras, on the Home Assistant broker."""

    def __init__(self, config: EdgeConfig) -> None:
        ha = config.homeassistant
        mqtt: MqttConfig = ha.mqtt or config.mqtt
        super().__init__(mqtt, f"{config.client_id}-homeassistant")
        self.node = _slug(f"smartstore_{config.store}_{config.device}")
        self.base = f"{ha.state_prefix}/{config.store}/{config.device}"
        self.availability = f"{self.base}/availability"
        self.discovery = ha.discovery_prefix
        self.device = {"identifiers": [self.node], "name": f"smartstore {config.store} {config.device}",
                       "manufacturer": "smartstore", "model": "edge box"}
        self.sensors = {self._state_topic(cam.id, name, what): (cam.id, name, what)
                        for cam in config.cameras
                        for name, whats in [*((line.name, ("in", "out")) for line in cam.lines),
                                            *((zone.name, ("occupancy",)) for zone in cam.zones)]
                        for what in whats}
        self._latest: dict[str, str] = {}  # state topic -> latest value (sent again on every connect)
        self._outgoing: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def _state_topic(self, camera: str, name: str, what: str) -> str:
        return f"{self.base}/{camera}/{_slug(name)}/{what}"

    def config_messages(self) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` of every sensor's discovery config (retained)."""
        out = []
        for state, (camera, name, what) in self.sensors.items():
            object_id = _slug(f"{camera}_{name}_{what}")
            config: dict[str, Any] = {
                "name": f"{camera} {name} {what}", "unique_id": f"{self.node}_{object_id}", "state_topic": state,
                "availability_topic": self.availability, "device": self.device, "unit_of_measurement": "people",
                "state_class": "measurement" if what == "occupancy" else "total_increasing",
                "icon": "mdi:account-group" if what == "occupancy" else "mdi:walk"}
            out.append((f"{self.discovery}/sensor/{self.node}/{object_id}/config",
                        json.dumps(config, separators=(",", ":")).encode()))
        return out

    def update(self, records: Iterable[Record], camera: str | None) -> None:
        """Take the sensor values in ``records`` of ``camera`` (any thread); published as soon as connected."""
        if camera is None:
            return
        changed = []
        for record in records:
            data = record.data
            if record.kind == "footfall.crossing" and "count_in" in data:
                changed += [(self._state_topic(camera, data["line"], "in"), str(data["count_in"])),
                            (self._state_topic(camera, data["line"], "out"), str(data["count_out"]))]
            elif record.kind == "zone.occupancy" and "peak" not in data:  # the live count, not the interval's
                changed.append((self._state_topic(camera, data["zone"], "occupancy"), str(data["count"])))
        if changed:
            with self._lock:
                for topic, value in changed:
                    if topic in self.sensors:
                        self._latest[topic] = value
                        self._outgoing.append((topic, value))
            self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is waiting, say ``offline``, disconnect."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 5)

    # ---- the connection's hooks ------------------------------------------------------------------------
    def _will(self) -> tuple[str, bytes] | None:
        return self.availability, OFFLINE

    def _on_connected(self, client: paho.Client) -> None:
        for topic, payload in self.config_messages():
            client.publish(topic, payload, qos=1, retain=True)
        client.publish(self.availability, ONLINE, qos=1, retain=True)
        with self._lock:
            self._outgoing.clear()
            self._outgoing.extend(self._latest.items())

    def _session(self, client: paho.Client) -> bool:
        deadline = time.monotonic() + self.config.keepalive_s
        accepted = False
        while True:
            if client.loop(timeout=0.02) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._connected = False
                return accepted
            if not self._connected:
                if time.monotonic() > deadline or self._stop.is_set():
                    client.disconnect()
                    return accepted
                continue
            accepted = True
            with self._lock:
                waiting, self._outgoing = list(self._outgoing), deque()
            for topic, value in waiting:
                client.publish(topic, value, qos=1, retain=True)
            if self._stop.is_set():
                return True
            if not waiting:
                self._wake.wait(0.2)
                self._wake.clear()

    def _shutdown(self, client: paho.Client) -> None:
        if self._connected:
            info = client.publish(self.availability, OFFLINE, qos=1, retain=True)
            deadline = time.monotonic() + 5
            while not info.is_published() and time.monotonic() < deadline:
                client.loop(timeout=0.05)
            client.disconnect()
            client.loop(timeout=0.1)
