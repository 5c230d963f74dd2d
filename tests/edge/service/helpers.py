"""Test helpers for the edge service: a real MQTT subscriber collecting events from the test broker."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def is_status(topic: str) -> bool:
    """``<prefix>/<store>/<device>/status`` (the prefix has two levels here), not an event such as queue/status."""
    return topic.count("/") == 4 and topic.endswith("/status")


class Subscriber:
    """Subscribes to ``topic`` on 127.0.0.1:``port`` (QoS 1) and keeps every message as (topic, payload, retain)."""

    def __init__(self, port: int, topic: str = "smartstore/#", client_id: str | None = None,
                 persistent: bool = False) -> None:
        """``persistent``: a session the broker keeps (and queues for) while we are away or it restarts."""
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.reconnect_delay_set(0.1, 0.5)
        if persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        else:
            self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if not is_status(t)]

    def statuses(self) -> list[tuple[dict[str, Any], bool]]:
        with self._lock:
            return [(json.loads(p), r) for t, p, r in self.messages if is_status(t) and p]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return bool(predicate(self))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
