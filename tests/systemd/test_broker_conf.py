"""The shipped Mosquitto configuration: the settings every test broker runs, and the listeners example with TLS
and client certificates, started as written (ports and certificate paths swapped for the test's own)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from contract import Event
from edge.config import Backoff, MqttConfig, TlsConfig
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tests.edge.service.test_mqtt import make_pki
from tools.broker import SHIPPED_CONF, free_port, mosquitto_binary, shipped_settings
from tools.broker import LocalBroker as Mosquitto

EXAMPLE = SHIPPED_CONF.parent / "listeners.conf.example"
FAST = Backoff(min_s=0.1, max_s=0.5)


def test_test_brokers_run_the_shipped_settings(broker: Mosquitto) -> None:
    conf = broker.conf.read_text()
    for line in ("persistence true", "autosave_interval 30", "max_queued_messages 1000000"):
        assert line in shipped_settings() and line in conf


def test_listeners_example_with_tls_and_client_certificates(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    pki = make_pki(tmp_path / "pki")
    plain, tls = free_port(), free_port()
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "collector", "secret-pw"], check=True,
                   capture_output=True)
    example = (EXAMPLE.read_text().replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
               .replace("listener 8883", f"listener {tls} 127.0.0.1")
               .replace("/etc/mosquitto/ca_certificates/smartstore-ca.crt", str(pki["ca.crt"]))
               .replace("/etc/mosquitto/certs/broker.crt", str(pki["server.crt"]))
               .replace("/etc/mosquitto/certs/broker.key", str(pki["server.key"]))
               .replace("/etc/mosquitto/smartstore.passwd", str(passwd)))
    example = "\n".join(line.split("   #")[0] for line in example.splitlines())  # trailing comments
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(shipped_settings() + example + f"\npersistence_location {tmp_path}/\nlog_dest none\n"
                    + ("user root\n" if os.geteuid() == 0 else ""))
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                socket.create_connection(("127.0.0.1", tls), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        outbox.enqueue([Event("footfall.crossing", "s1", "d1", 0, {"line": "l", "direction": "in", "track_id": 1})])
        certs = TlsConfig(ca=pki["ca.crt"], cert=pki["client.crt"], key=pki["client.key"])
        publisher = Publisher(MqttConfig(host="127.0.0.1", port=tls, tls=certs, reconnect=FAST),
                              "s1", "d1", outbox)  # the certificate's CN d1 is its user name
        publisher.start()
        deadline = time.monotonic() + 10
        while len(outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        publisher.stop(flush_timeout=1)
        assert len(outbox) == 0 and publisher.stats.acked == 1
        anonymous = Publisher(MqttConfig(host="127.0.0.1", port=plain, reconnect=FAST),
                              "s1", "d2", outbox)  # the loopback listener wants a user and password
        anonymous.start()
        time.sleep(1.0)
        anonymous.stop(flush_timeout=0)
        assert anonymous.stats.connects == 0 and "refused" in (anonymous.stats.last_error or "")
    finally:
        outbox.close()
        proc.terminate()
        proc.wait(10)
