"""Per-device broker accounts against a real Mosquitto running the files ``smartstore fleet enroll`` writes
(password file + ACL file, no anonymous clients): the drill of issue 18 (a client publishing crossings, a huge
sale and a retained ``offline`` status as another store) is refused by the broker, devices read only their own
receipts and commands, the collector account reads everything and publishes receipts, a revoked device is cut
off on reload. Mosquitto 2.0 answers a refused QoS 1 publish with PUBACK "Not authorized" and does not deliver
it; a subscription to a topic the ACL does not let it read is granted, but nothing on that topic is delivered."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.fleet.enroll import BrokerFiles, Enrolled
from collector.fleet.passwd import hash_line, mosquitto_passwd, verify
from collector.store import open_store
from contract import Event, receipt_topic, status_payload, status_topic
from contract.topics import command_topic
from edge.config import Backoff, MqttConfig
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tests.collector.conftest import RunningIngestor, collector_config, wait_for
from tools.broker import SHIPPED_CONF, LocalBroker, free_port, mosquitto_binary

OK = "accepted"
EXAMPLE = SHIPPED_CONF.parent / "listeners.conf.example"
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed")


class Client:
    """A paho MQTT 5 client that records its CONNACK, PUBACKs, SUBACKs and messages."""

    def __init__(self, port: int, account: Enrolled | None = None, password: str | None = None,
                 client_id: str = "") -> None:
        self.connack: Any = None
        self.pubacks: dict[int, Any] = {}
        self.subacks: list[Any] = []
        self.messages: list[tuple[str, bytes]] = []
        self.disconnected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"c{time.monotonic_ns()}",
                                  protocol=mqtt.MQTTv5)
        if account is not None:
            self.client.username_pw_set(account.username, password or account.password)
        self.client.on_connect = lambda _c, _u, _f, reason, _p: setattr(self, "connack", reason)
        self.client.on_publish = lambda _c, _u, mid, reason, _p: self.pubacks.__setitem__(mid, reason)
        self.client.on_subscribe = lambda _c, _u, _m, reasons, _p: self.subacks.extend(reasons)
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, bytes(msg.payload)))
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(lambda: self.connack is not None, 10, "CONNACK")

    def publish(self, messages: list[tuple[str, bytes]], retain: bool = False) -> list[str]:
        """Publish QoS 1 and wait for every PUBACK; their reasons: "Not authorized" or ``OK`` (success, with or
        without subscribers)."""
        mids = [self.client.publish(topic, payload, qos=1, retain=retain).mid for topic, payload in messages]
        wait_for(lambda: all(mid in self.pubacks for mid in mids), 10, "PUBACKs")
        return [str(self.pubacks[mid]) if self.pubacks[mid].is_failure else OK for mid in mids]

    def subscribe(self, *filters: str) -> None:
        before = len(self.subacks)
        for topic_filter in filters:
            self.client.subscribe(topic_filter, qos=1)
        wait_for(lambda: len(self.subacks) == before + len(filters), 10, "SUBACKs")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def documented_settings(folder: Path) -> str:
    """The authentication lines of ``systemd/mosquitto/listeners.conf.example`` (the ACL line uncommented), for
    the files in ``folder``: what the docs tell an operator is what the tests run."""
    wanted = re.compile(r"^#? ?(allow_anonymous|password_file|acl_file) ")
    lines = [line.lstrip("# ").split("   #")[0].split("   (")[0].strip()
             for line in EXAMPLE.read_text().splitlines() if wanted.match(line)]
    assert [line.split()[0] for line in lines] == ["allow_anonymous", "password_file", "acl_file"], lines
    return "\n".join(lines).replace("/etc/mosquitto/", f"{folder}/") + "\n"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[LocalBroker, BrokerFiles, dict[str, Enrolled]]]:
    files = BrokerFiles(tmp_path / "broker")
    accounts = {"collector": files.enroll_collector(),
                "s1/d1": files.enroll_device("s1", "d1"),
                "s1/d2": files.enroll_device("s1", "d2", use_tool=False),  # the built-in $7$ hash
                "s2/d9": files.enroll_device("s2", "d9")}
    broker = LocalBroker(tmp_path / "mosquitto", extra_conf=documented_settings(files.folder)).start()
    yield broker, files, accounts
    broker.stop()


def test_passwords_in_both_hash_formats_and_nothing_else_get_in(fleet: Any) -> None:
    broker, files, accounts = fleet
    for name in ("s1/d1", "s1/d2", "collector"):  # mosquitto_passwd's hash, ours, the collector's
        client = Client(broker.port, accounts[name])
        assert str(client.connack) == "Success", name
        client.close()
    wrong = ((None, None), (accounts["s1/d1"], "wrong"), (accounts["s1/d1"], accounts["s1/d2"].password))
    for account, password in wrong:  # anonymous, a wrong password, another device's password
        assert str(Client(broker.port, account, password).connack) == "Not authorized"
    lines = files.passwd.read_text().splitlines()
    assert len(lines) == 4 and not any(a.password in files.passwd.read_text() for a in accounts.values())
    assert all(verify(line, accounts[line.partition(":")[0]].password) for line in lines)
    if mosquitto_passwd():  # our PBKDF2 checks what mosquitto_passwd wrote, and the other way round
        assert verify(hash_line("u", "pw"), "pw") and not verify(hash_line("u", "pw"), "pW")


def test_the_drill_is_refused_and_the_collector_account_reads_all(fleet: Any, tmp_path: Path) -> None:
    """Device s2/d9 publishes as s1/d1: 100 crossings, a sale of 1,000,000, a retained offline status. The broker
    refuses all of it; the real edge publisher of s1/d1 on its own account gets its events stored and receipted by
    a collector on the collector account."""
    broker, _, accounts = fleet
    url = str(tmp_path / "c.db")
    config = collector_config(url, None, broker.port).model_copy(deep=True)
    config.mqtt.username, config.mqtt.password = "collector", accounts["collector"].password
    ingestor = RunningIngestor(config).start()
    try:
        intruder = Client(broker.port, accounts["s2/d9"])
        forged = [(e.topic(), e.to_json()) for e in [
            *(Event("footfall.crossing", "s1", "d1", i, {"line": "door", "direction": "in", "track_id": i})
              for i in range(100)), Event("pos.sale", "s1", "d1", 100, {"sku": "milk", "qty": 1_000_000})]]
        assert set(intruder.publish(forged)) == {"Not authorized"}
        assert intruder.publish([(status_topic("s1", "d1"), status_payload("s1", "d1", "offline"))],
                                retain=True) == ["Not authorized"]
        time.sleep(0.5)
        assert ingestor.store.rows("SELECT COUNT(*) AS n FROM device_status")[0]["n"] == 0
        outbox = Outbox(tmp_path / "d1.db")
        settings = {"host": "127.0.0.1", "port": broker.port, "username": "s1/d1", "password":
                    accounts["s1/d1"].password, "reconnect": Backoff(min_s=0.2, max_s=1.0)}
        edge = Publisher(MqttConfig.model_validate(settings), "s1", "d1", outbox)
        outbox.enqueue([Event("footfall.crossing", "s1", "d1", 0, {"line": "door", "direction": "out", "track_id": i})
                        for i in range(5)])
        edge.start()
        wait_for(lambda: edge.stats.receipt_seq == 4 and len(outbox) == 0, 30, "the receipt of s1/d1's 5 events")
        edge.stop(flush_timeout=2)
        outbox.close()
        time.sleep(0.5)
    finally:
        ingestor.stop()
    store = open_store(url)
    try:
        assert store.rows("SELECT COUNT(*) AS n FROM events")[0]["n"] == 5
        assert store.rows("SELECT COUNT(*) AS n FROM sales")[0]["n"] == 0
        assert [r["state"] for r in store.rows("SELECT state FROM device_status")] == ["offline"]  # its own clean stop
        assert store.rows("SELECT clean FROM device_status")[0]["clean"]
    finally:
        store.close()


def test_devices_read_only_their_own_receipts_and_commands(fleet: Any) -> None:
    broker, _, accounts = fleet
    collector = Client(broker.port, accounts["collector"])
    own = [(receipt_topic("s1", "d1"), b"r-d1"), (command_topic("s1", "d1"), b"c-d1")]
    others = [(receipt_topic("s1", "d2"), b"r-d2"), (command_topic("s1", "d2"), b"c-d2"),
              (receipt_topic("s2", "d9"), b"r-d9"), (command_topic("s2", "d9"), b"c-d9")]
    assert set(collector.publish(own + others, retain=True)) == {OK}  # retained: a later subscriber gets it
    device = Client(broker.port, accounts["s1/d1"])
    device.subscribe(*(topic for topic, _ in others), "smartstore/v1/#", *(topic for topic, _ in own))
    wait_for(lambda: len(device.messages) >= 4, 10, "its own retained receipt and command")
    collector.publish(own + others)  # and live ones
    wait_for(lambda: len(device.messages) >= 8, 10, "its own live receipt and command")
    time.sleep(0.5)
    assert {payload for _, payload in device.messages} == {b"r-d1", b"c-d1"}
    assert set(device.publish(own + others)) == {"Not authorized"}  # nor forge receipts or commands
    assert device.publish([(status_topic("s1", "d1"), b"{}"), ("smartstore/v1/s1/d1/zone/occupancy", b"{}"),
                           ("smartstore/v1/s1/d1/reply", b"{}")]) == [OK] * 3
    device.close()
    collector.close()


def test_a_revoked_device_is_cut_off_on_reload(fleet: Any) -> None:
    broker, files, accounts = fleet
    device = Client(broker.port, accounts["s1/d1"])
    assert str(device.connack) == "Success"
    other = Client(broker.port, accounts["s1/d2"])
    device.client.reconnect_delay_set(60, 60)  # paho must not reconnect in the window we look at
    files.revoke("s1/d1")
    assert "s1/d1" not in files.passwd.read_text() and "s1/d1" not in files.acl.read_text()
    assert "s1/d2" in files.acl.read_text()
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGHUP)  # what `systemctl reload mosquitto` does
    assert device.disconnected.wait(10), "the broker kept the revoked device's connection"
    assert str(Client(broker.port, accounts["s1/d1"]).connack) == "Not authorized"
    assert str(Client(broker.port, accounts["s1/d2"]).connack) == "Success"
    assert not other.disconnected.is_set() and other.publish([(status_topic("s1", "d2"), b"{}")]) == [OK]


def test_accounts_as_client_ids_keep_devices_of_two_stores_apart(tmp_path: Path) -> None:
    """Two stores' ``box-1`` both connect as client id ``box-1``: on a listener with the example's
    ``use_username_as_clientid true`` both stay connected; without it the second takes over the first's session."""
    assert "\nuse_username_as_clientid true\n" in EXAMPLE.read_text()
    files = BrokerFiles(tmp_path / "broker")
    first, second = files.enroll_device("s1", "box-1"), files.enroll_device("s2", "box-1")
    port = free_port()
    broker = LocalBroker(tmp_path / "mosquitto", extra_conf=documented_settings(files.folder)
                         + f"listener {port} 127.0.0.1\nuse_username_as_clientid true\n").start()
    try:
        for listener, kept in ((port, True), (broker.port, False)):
            a = Client(listener, first, client_id="box-1")
            b = Client(listener, second, client_id="box-1")
            a.client.reconnect_delay_set(60, 60)
            assert a.disconnected.wait(1.5) is not kept, listener
            assert b.publish([(status_topic("s2", "box-1"), b"{}")]) == [OK]
            a.close()
            b.close()
    finally:
        broker.stop()
