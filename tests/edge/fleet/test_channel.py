"""The command channel against a real Mosquitto: MQTT 5 request/response through the edge's own publisher."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.commands import Command, Reply
from contract.events import utc_now
from contract.topics import command_topic, reply_topic
from edge.config import Backoff, MqttConfig
from edge.fleet_host import listen, publisher_send
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tests.edge.fleet.helpers import Fleet
from tools.broker import LocalBroker as Mosquitto


class Requester:
    """The collector's side: publishes commands as MQTT 5 requests and collects the replies by correlation data."""

    def __init__(self, port: int) -> None:
        self.replies: list[tuple[bytes | None, Reply]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_connect = lambda c, *_: c.subscribe(reply_topic("s1", "d1"), qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.replies.append((getattr(msg.properties, "CorrelationData", None), Reply.parse(bytes(msg.payload))))

    def send(self, command: Command, correlation: bytes, expiry_s: int = 60) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic("s1", "d1")
        props.CorrelationData = correlation
        props.MessageExpiryInterval = expiry_s
        self.client.publish(command_topic("s1", "d1"), command.to_json(), qos=1, properties=props).wait_for_publish(5)

    def wait(self, count: int, timeout: float = 10.0) -> list[tuple[bytes | None, Reply]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.replies) < count:
            time.sleep(0.02)
        with self._lock:
            return list(self.replies)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def device(broker: Mosquitto, fleet: Fleet, tmp_path: Path) -> Iterator[Fleet]:
    """``fleet``'s channel on a real publisher connected to ``broker`` as s1/d1."""
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = Publisher(MqttConfig(port=broker.port, reconnect=Backoff(min_s=0.1, max_s=0.5)), "s1", "d1", outbox)
    fleet.channel = fleet.new_channel(publisher_send(publisher))
    listen(publisher, fleet.channel)
    publisher.start()
    fleet.channel.start()
    assert publisher.wait_connected(10)
    time.sleep(0.2)  # the subscription is sent right after CONNACK
    yield fleet
    fleet.channel.stop()
    publisher.stop(flush_timeout=1)
    outbox.close()


def test_command_reaches_the_device_and_replies_carry_the_correlation(broker: Mosquitto, device: Fleet) -> None:
    requester = Requester(broker.port)
    try:
        command = Command("report_status", "s1", "d1")
        requester.send(command, b"req-1")
        replies = requester.wait(2)
        assert [(c, r.id, r.state) for c, r in replies] == [(b"req-1", command.id, "accepted"),
                                                           (b"req-1", command.id, "applied")]
        assert replies[1][1].detail["frames"] == 7
    finally:
        requester.close()


def test_sent_twice_applied_once_and_expired_refused(broker: Mosquitto, device: Fleet) -> None:
    requester = Requester(broker.port)
    try:
        command = Command("restart_pipeline", "s1", "d1")
        requester.send(command, b"first")
        assert requester.wait(2)[-1][1].state == "applied"
        requester.send(command, b"again")  # a replay of the same command id
        again = requester.wait(3)[-1]
        assert again[0] == b"again" and again[1].state == "applied" and again[1].detail == {"duplicate": True}
        assert len(device.host.restarts) == 1
        late = Command("restart_pipeline", "s1", "d1", expires=utc_now() - timedelta(seconds=5))
        requester.send(late, b"late")
        refused = requester.wait(4)[-1]
        assert refused[0] == b"late" and refused[1].state == "failed" and "expired" in (refused[1].reason or "")
        other = Command("restart_pipeline", "s1", "d2")  # a command for another device on this topic
        requester.send(other, b"other")
        assert "not s1/d1" in (requester.wait(5)[-1][1].reason or "")
        assert len(device.host.restarts) == 1
    finally:
        requester.close()
