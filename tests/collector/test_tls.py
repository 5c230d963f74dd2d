"""Collector TLS, tested like the edge's (tests/edge/service/test_mqtt.py): a real Mosquitto TLS listener that
requires client certificates, certificates made for the test (a CA, a server certificate for 127.0.0.1, a client
certificate), and a second CA that signed none of them. The collector ingests an edge's events over TLS and sends
its receipts back over it; a wrong CA, or no client certificate, gets no connection; the API serves HTTPS with
``api.cert_file``/``api.key_file`` and a client holding another CA refuses it; the edge's bundle fetch downloads,
resumes and checks a file the collector serves from ``api.bundles_dir``."""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.config import CollectorConfig, CollectorConfigError, load_config
from collector.ingest import Ingestor
from collector.service import Collector
from collector.store import open_store
from contract.commands import FileEntry
from edge.config import Backoff, MqttConfig, TlsConfig
from edge.fetch import FetchError, fetch_file
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tests.collector.conftest import crossings, wait_for
from tests.edge.service.conftest import make_broker
from tests.edge.service.test_mqtt import make_pki
from tools.broker import LocalBroker as Mosquitto
from tools.broker import free_port


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, pki: dict[str, Path]) -> Iterator[Mosquitto]:
    broker = make_broker(tmp_path / "tls", extra_conf=(
        f"cafile {pki['ca.crt']}\ncertfile {pki['server.crt']}\nkeyfile {pki['server.key']}\n"
        "require_certificate true\n"))
    broker.start()
    yield broker
    broker.stop()


def config(tmp_path: Path, port: int, ca: Path, cert: Path | None, key: Path | None,
           **extra: object) -> CollectorConfig:
    return load_config(None, {"store": str(tmp_path / "collector.db"), "mqtt.port": port, "mqtt.host": "127.0.0.1",
                              "mqtt.client_id": "collector-tls", "mqtt.ca_file": str(ca),
                              "mqtt.cert_file": cert and str(cert), "mqtt.key_file": key and str(key),
                              "mqtt.reconnect_max_s": 0.5, "api.token": "test-token-123", **extra})


def run_ingestor(cfg: CollectorConfig) -> tuple[Ingestor, threading.Event, threading.Thread]:
    store = open_store(cfg.store)
    ingestor = Ingestor(cfg, store)
    stop = threading.Event()
    thread = threading.Thread(target=ingestor.run, args=(stop,), daemon=True)
    thread.start()
    return ingestor, stop, thread


def test_ingest_and_receipts_over_tls(tmp_path: Path, pki: dict[str, Path], tls_broker: Mosquitto) -> None:
    ingestor, stop, thread = run_ingestor(config(tmp_path, tls_broker.port, pki["ca.crt"], pki["client.crt"],
                                                 pki["client.key"]))
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        assert ingestor.connected.wait(15), "the collector did not connect over TLS"
        time.sleep(0.3)  # SUBACK
        sent = outbox.enqueue(crossings(20, device="d1", store="s1"))
        edge_tls = TlsConfig(ca=pki["ca.crt"], cert=pki["client.crt"], key=pki["client.key"])
        publisher = Publisher(MqttConfig(host="127.0.0.1", port=tls_broker.port, tls=edge_tls, receipts="on",
                                         reconnect=Backoff(min_s=0.1, max_s=0.5)), "s1", "d1", outbox)
        publisher.start()
        try:
            db = open_store(str(tmp_path / "collector.db"))
            wait_for(lambda: db.counts()["events"] == len(sent), what="the events stored")
            wait_for(lambda: len(outbox) == 0, what="the collector's receipt over TLS settling the outbox")
            assert [r["seq"] for r in db.receipts()] == [len(sent) - 1]
            db.close()
        finally:
            publisher.stop()
    finally:
        outbox.close()
        stop.set()
        thread.join(20)


@pytest.mark.parametrize("case", ["wrong CA", "no client certificate"])
def test_a_wrong_ca_or_no_client_certificate_gets_no_connection(tmp_path: Path, pki: dict[str, Path],
                                                                tls_broker: Mosquitto, case: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    if case == "wrong CA":  # a CA that did not sign the broker's certificate: the collector refuses the broker
        other = make_pki(tmp_path / "other")
        cfg = config(tmp_path, tls_broker.port, other["ca.crt"], pki["client.crt"], pki["client.key"])
    else:  # the broker requires a certificate the collector does not present: the broker refuses it
        cfg = config(tmp_path, tls_broker.port, pki["ca.crt"], None, None)
    with caplog.at_level(logging.WARNING):
        ingestor, stop, thread = run_ingestor(cfg)
        try:
            assert not ingestor.connected.wait(3)
        finally:
            stop.set()
            thread.join(20)
    messages = " ".join(r.getMessage() for r in caplog.records)
    # TLS 1.3: the client finishes its side of the handshake before the broker's refusal arrives, so a missing
    # client certificate shows as a connection lost right after connecting
    expected = "certificate verify failed" if case == "wrong CA" else "broker connection lost"
    assert expected in messages, messages


def test_the_api_over_https(tmp_path: Path, pki: dict[str, Path], tls_broker: Mosquitto) -> None:
    port = free_port()
    cfg = config(tmp_path, tls_broker.port, pki["ca.crt"], pki["client.crt"], pki["client.key"],
                 **{"api.port": port, "api.cert_file": str(pki["server.crt"]), "api.key_file": str(pki["server.key"])})
    collector = Collector(cfg)
    collector.start()
    try:
        assert collector.wait_ready(30) and collector.url == f"https://127.0.0.1:{port}"
        trusted = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        with urllib.request.urlopen(f"{collector.url}/healthz", context=trusted, timeout=10) as response:
            assert response.status == 200 and b'"mqtt_connected":true' in response.read()
        request = urllib.request.Request(f"{collector.url}/api/v1/stores",
                                         headers={"Authorization": "Bearer test-token-123"})
        with urllib.request.urlopen(request, context=trusted, timeout=10) as response:
            assert response.status == 200
        stranger = ssl.create_default_context(cafile=str(make_pki(tmp_path / "other")["ca.crt"]))
        with pytest.raises(urllib.error.URLError, match="certificate verify failed"):
            urllib.request.urlopen(f"{collector.url}/healthz", context=stranger, timeout=10)
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP to the TLS port: no answer
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
    finally:
        collector.stop()


def test_unloadable_api_certificates_are_one_line_errors(tmp_path: Path, pki: dict[str, Path]) -> None:
    with pytest.raises(CollectorConfigError, match=r"'api': Value error, cert_file and key_file must be given"):
        load_config(None, {"api.cert_file": str(pki["server.crt"])})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cfg = load_config(None, {"store": str(tmp_path / "c.db"), "api.token": "test-token-123",
                             "api.cert_file": str(garbage), "api.key_file": str(pki["server.key"])})
    with pytest.raises(CollectorConfigError, match=r"api\.cert_file = '.*garbage\.pem', api\.key_file = .*cannot load"):
        Collector(cfg).start()


def test_the_edge_fetches_and_resumes_a_bundle_the_collector_serves(
        tmp_path: Path, pki: dict[str, Path], tls_broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import os

    bundles = tmp_path / "bundles"
    (bundles / "person" / "2").mkdir(parents=True)
    data = os.urandom(300_000)
    (bundles / "person" / "2" / "model.bin").write_bytes(data)
    port = free_port()
    cfg = config(tmp_path, tls_broker.port, pki["ca.crt"], pki["client.crt"], pki["client.key"],
                 **{"api.port": port, "api.cert_file": str(pki["server.crt"]), "api.key_file": str(pki["server.key"]),
                    "api.bundles_dir": str(bundles)})
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca.crt"]))  # the edge trusts the fleet's CA through the default store
    collector = Collector(cfg)
    collector.start()
    try:
        assert collector.wait_ready(30)
        url = f"{collector.url}/bundles/person/2/model.bin"
        entry = FileEntry("model.bin", hashlib.sha256(data).hexdigest(), len(data), (url,))
        target = tmp_path / "edge" / "model.bin"
        target.parent.mkdir()
        target.with_name("model.bin.part").write_bytes(data[:100_000])  # a download cut at a third
        request = urllib.request.Request(url, headers={"Range": "bytes=100000-"})
        with urllib.request.urlopen(request, timeout=10) as response:  # no token: the files are signed, not secret
            assert response.status == 206 and response.headers["Content-Range"] == f"bytes 100000-299999/{len(data)}"
        fetch_file(entry, target, timeout=10, attempts=2)
        assert target.read_bytes() == data and not target.with_name("model.bin.part").exists()
        with pytest.raises(FetchError, match="does not match the manifest"):
            fetch_file(FileEntry("model.bin", "0" * 64, len(data), (url,)), tmp_path / "edge" / "other.bin")
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{collector.url}/bundles/../collector.db", timeout=10)
    finally:
        collector.stop()
    with pytest.raises(CollectorConfigError, match=r"bundles_dir .* is not a folder"):
        config(tmp_path, 1883, pki["ca.crt"], None, None, **{"api.bundles_dir": str(tmp_path / "missing")})
