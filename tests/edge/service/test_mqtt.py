"""The MQTT publisher against a real Mosquitto: round trip, outage, retries on bad brokers, TLS, credentials."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from contract import Event, kinds, load_schema, validate
from edge.config import Backoff, MqttConfig, TlsConfig
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tests.edge.service.conftest import make_broker
from tests.edge.service.helpers import Subscriber
from tools.broker import LocalBroker as Mosquitto
from tools.broker import free_port

FAST = Backoff(min_s=0.1, max_s=0.5)


def crossing(i: int) -> Event:
    return Event("footfall.crossing", "s1", "d1", 0, {"line": "door", "direction": "in", "track_id": i})


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db")
    yield box
    box.close()


def start(config: MqttConfig, box: Outbox) -> Publisher:
    pub = Publisher(config, "s1", "d1", box)
    pub.start()
    return pub


def test_round_trip_every_field_intact_and_valid(broker: Mosquitto, outbox: Outbox) -> None:
    sub = Subscriber(broker.port)
    pub = start(MqttConfig(port=broker.port, reconnect=FAST), outbox)
    try:
        sent = outbox.enqueue([crossing(i) for i in range(50)] + [
            Event("device.health", "s1", "d1", 0, {"reason": "periodic", "fps": 14.9, "dropped_frames": 3,
                                                    "engine": "openvino", "cpu_temp_c": None}, camera="cam1")])
        pub.notify()
        assert sub.wait_for(lambda s: len(s.events()) >= 51)
        received = sub.events()
        assert received == [e.to_dict() for e in sent]  # every field, in order
        for message in received:
            validate(message)
        topics = {t for t, _, _ in sub.messages}
        assert "smartstore/v1/s1/d1/footfall/crossing" in topics and "smartstore/v1/s1/d1/device/health" in topics
        assert sub.wait_for(lambda s: len(outbox) == 0)  # acked rows deleted
        online = [s for s, _ in sub.statuses() if s["state"] == "online"]
        assert online and online[0]["device"] == "d1"
        jsonschema.validate(online[0], load_schema("status"))
    finally:
        pub.stop()
        sub.close()
    late = Subscriber(broker.port)  # retained status: a new subscriber learns the device went offline cleanly
    assert late.wait_for(lambda s: any(r and st["state"] == "offline" and st["clean"] for st, r in s.statuses()))
    for status, _ in late.statuses():
        jsonschema.validate(status, load_schema("status"))
    late.close()


def test_broker_outage_every_event_once_in_order(broker: Mosquitto, outbox: Outbox) -> None:
    sub = Subscriber(broker.port, client_id="outage-sub", persistent=True)
    pub = start(MqttConfig(port=broker.port, reconnect=FAST, drain_rate=2000), outbox)
    try:
        for i in range(300):
            if i == 100:
                broker.stop()
            if i == 200:
                broker.start()
            outbox.enqueue([crossing(i)])
            pub.notify()
            time.sleep(0.01)
        assert sub.wait_for(lambda s: len({e["id"] for e in s.events()}) >= 300, timeout=30)
    finally:
        pub.stop()
        sub.close()
    unique: dict[str, dict[str, object]] = {}
    for event in sub.events():
        unique.setdefault(event["id"], event)
    seqs = [e["seq"] for e in unique.values()]
    assert seqs == list(range(300))  # exactly once after dedup, in order, no gap
    assert len(outbox) == 0


def test_absent_broker_is_retried_with_clear_messages(tmp_path: Path, outbox: Outbox,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    outbox.enqueue([crossing(i) for i in range(5)])
    with caplog.at_level(logging.ERROR, logger="smartstore.mqtt"):
        pub = start(MqttConfig(port=port, reconnect=FAST), outbox)
        try:
            time.sleep(1.5)
            errors = [r.getMessage() for r in caplog.records]
            assert len(errors) >= 2, errors  # retried
            assert f"cannot connect to localhost:{port}: Connection refused; retrying in" in errors[0]
            late = make_broker(tmp_path / "late", port=port)  # the broker appears: the backlog drains
            late.start()
            try:
                sub = Subscriber(port)
                assert sub.wait_for(lambda s: len(outbox) == 0, 15)
                sub.close()
            finally:
                pub.stop()
                late.stop()
        finally:
            pub.stop()


def test_unknown_host_is_retried(outbox: Outbox, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="smartstore.mqtt"):
        pub = start(MqttConfig(host="no-such-broker.invalid", reconnect=FAST), outbox)
        time.sleep(1.0)
        pub.stop()
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) >= 2 and "cannot connect to no-such-broker.invalid:1883" in errors[0], errors


def test_bad_credentials_are_reported_and_retried(tmp_path: Path, outbox: Outbox,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "edge", "right"], check=True,
                   capture_output=True)
    passwords.chmod(0o600)
    secured = make_broker(tmp_path / "auth", extra_conf=f"allow_anonymous false\npassword_file {passwords}\n")
    secured.start()
    try:
        with caplog.at_level(logging.ERROR, logger="smartstore.mqtt"):
            pub = start(MqttConfig(port=secured.port, username="edge", password="wrong", reconnect=FAST), outbox)
            time.sleep(1.5)
            assert not pub.connected
            pub.stop()
        errors = [r.getMessage() for r in caplog.records]
        assert sum("refused client 'd1'" in e for e in errors) >= 2, errors  # reported, and retried
        assert any("Bad user name or password" in e or "Not authorized" in e for e in errors), errors
        pub = start(MqttConfig(port=secured.port, username="edge", password="right", reconnect=FAST), outbox)
        assert pub.wait_connected(10)
        pub.stop()
    finally:
        secured.stop()


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl command."""
    folder.mkdir()
    run = lambda *args: subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    for name, cn in (("server", "127.0.0.1"), ("client", "d1")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key", "-out",
            f"{name}.csr")
        ext = folder / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if name == "server" else "extendedKeyUsage=clientAuth\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", str(ext))
    return {n: folder / n for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


def test_tls_with_client_certificate_and_unreadable_files(tmp_path: Path, outbox: Outbox,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    pki = make_pki(tmp_path / "pki")
    tls_broker = make_broker(tmp_path / "tls", extra_conf=(
        f"cafile {pki['ca.crt']}\ncertfile {pki['server.crt']}\nkeyfile {pki['server.key']}\n"
        "require_certificate true\n"))
    tls_broker.start()
    try:
        missing = TlsConfig(ca=tmp_path / "nope.crt", cert=pki["client.crt"], key=pki["client.key"])
        with caplog.at_level(logging.ERROR, logger="smartstore.mqtt"):
            pub = start(MqttConfig(host="127.0.0.1", port=tls_broker.port, tls=missing, reconnect=FAST), outbox)
            time.sleep(1.0)
            pub.stop()
        errors = [r.getMessage() for r in caplog.records]
        assert len(errors) >= 2 and f"mqtt.tls.ca = '{tmp_path / 'nope.crt'}' does not exist" in errors[0], errors

        garbage = tmp_path / "garbage.crt"
        garbage.write_text("not a certificate\n")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="smartstore.mqtt"):
            bad = TlsConfig(ca=garbage, cert=pki["client.crt"], key=pki["client.key"])
            pub = start(MqttConfig(host="127.0.0.1", port=tls_broker.port, tls=bad, reconnect=FAST), outbox)
            time.sleep(0.8)
            pub.stop()
        assert any("cannot load certificates" in r.getMessage() for r in caplog.records)

        sub_events = outbox.enqueue([crossing(i) for i in range(3)])
        good = TlsConfig(ca=pki["ca.crt"], cert=pki["client.crt"], key=pki["client.key"])
        pub = start(MqttConfig(host="127.0.0.1", port=tls_broker.port, tls=good, reconnect=FAST), outbox)
        deadline = time.monotonic() + 10
        while len(outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        pub.stop()
        assert len(outbox) == 0 and pub.stats.acked == len(sub_events)
    finally:
        tls_broker.stop()


def test_mqtt_311_option(broker: Mosquitto, outbox: Outbox) -> None:
    sub = Subscriber(broker.port)
    pub = start(MqttConfig(port=broker.port, protocol="3.1.1", reconnect=FAST), outbox)
    try:
        outbox.enqueue([crossing(1)])
        pub.notify()
        assert sub.wait_for(lambda s: len(s.events()) == 1)
    finally:
        pub.stop()
        sub.close()


def test_every_kind_has_a_data_schema() -> None:
    for kind in kinds():
        assert load_schema(kind)["type"] == "object"


def test_backlog_drains_in_order_at_the_configured_rate(broker: Mosquitto, outbox: Outbox) -> None:
    outbox.enqueue([crossing(i) for i in range(600)])  # a backlog left by an outage
    sub = Subscriber(broker.port)
    began = time.monotonic()
    pub = start(MqttConfig(port=broker.port, drain_rate=300, reconnect=FAST), outbox)
    try:
        assert sub.wait_for(lambda s: len(s.events()) >= 600, 20)
        elapsed = time.monotonic() - began
    finally:
        pub.stop()
        sub.close()
    assert [e["seq"] for e in sub.events()] == list(range(600))
    assert elapsed >= 0.9, elapsed  # 300 at once (the bucket's burst), then 300/s: at least 1 s for 600
    assert pub.stats.acked == 600
