"""The command channel against a real Mosquitto: MQTT 5 request/response through the edge's own publisher."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from contract.commands import Command
from contract.events import utc_now
from edge.config import Backoff, MqttConfig
from edge.fleet_host import listen, publisher_send
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tests.edge.fleet.helpers import Fleet, Requester
from tools.broker import LocalBroker as Mosquitto


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
