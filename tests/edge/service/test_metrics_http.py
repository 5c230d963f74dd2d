"""The edge Prometheus endpoint: a real service on a real video and a real Mosquitto, scraped over HTTP."""

from __future__ import annotations

import http.client
import logging
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.config import ConfigError, parse_config
from edge.metrics_http import CONTENT_TYPE, Family, exposed, render, start_metrics
from edge.models import Manifest
from tests.edge.service.helpers import REPO, ServiceProcess, edge_config, write_clip
from tools.broker import LocalBroker as Mosquitto
from tools.broker import free_port

MODEL = REPO / "models" / "person-ssdlite" / "openvino-int8" / "model.xml"
MINIMAL = {"store": "s1", "device": "d1", "cameras": [{"id": "door", "source": "/videos/door.mp4"}]}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Exposition:
    helps: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, name: str, **labels: str) -> float | None:
        found = [v for n, lab, v in self.samples if n == name and labels.items() <= lab.items()]
        return found[0] if found else None

    def labels(self, name: str) -> dict[str, str]:
        return next(lab for n, lab, _ in self.samples if n == name)


def parse_labels(text: str) -> dict[str, str]:
    labels, pos = {}, 0
    while pos < len(text):
        match = LABEL.match(text, pos)
        assert match, f"bad labels at {text[pos:]!r}"
        labels[match[1]] = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], match[2])
        pos = match.end()
        if pos < len(text):
            assert text[pos] == ",", text
            pos += 1
    return labels


def parse(text: str) -> Exposition:
    """The text exposition format 0.0.4: every sample has a HELP and a TYPE line before it."""
    parsed = Exposition()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, doc = line[len("# HELP "):].partition(" ")
            parsed.helps[name] = doc
        elif line.startswith("# TYPE "):
            name, kind = line[len("# TYPE "):].split(" ")
            assert kind in ("gauge", "counter") and name not in parsed.types, line
            parsed.types[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match[1]
            assert name in parsed.helps and name in parsed.types, f"{name}: no HELP/TYPE before it"
            assert parsed.types[name] != "counter" or name.endswith("_total"), name
            parsed.samples.append((name, parse_labels(match[2] or ""), float(match[3])))
    return parsed


def get(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


def listening_sockets(pid: int) -> list[str]:
    """The TCP sockets process ``pid`` listens on (``/proc/net/tcp*`` rows in state LISTEN owned by its fds)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:
                rows.append(cols[1])
    return rows


@pytest.fixture
def clip(vtest_video: Path, tmp_path: Path) -> Path:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not built (make models)")
    return write_clip(vtest_video, tmp_path / "clip.avi", 60)


def scrape_until_counting(service: ServiceProcess, port: int, timeout: float = 90.0) -> Exposition:
    """Scrape until the camera has processed frames and MQTT is connected (the model loads first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert service.proc is not None and service.proc.poll() is None, service.raw_log()
        if service.wait_log("metrics: serving", timeout=0.5):
            status, content_type, body = get(port)
            assert status == 200 and content_type == CONTENT_TYPE, (status, content_type)
            parsed = parse(body)
            if (parsed.value("smartstore_edge_frames_total", camera="entrance") or 0) > 0 and \
                    parsed.value("smartstore_edge_mqtt_connected") == 1:
                return parsed
        time.sleep(0.5)
    raise AssertionError(f"no frames counted in the metrics after {timeout} s:\n{service.raw_log()}")


@pytest.mark.slow
def test_metrics_of_a_running_service(broker: Mosquitto, clip: Path, tmp_path: Path) -> None:
    port = free_port()
    config = edge_config(tmp_path, broker.port, clip, camera={"loop": True, "pace": True},
                         metrics={"enabled": True, "port": port})
    service = ServiceProcess(tmp_path, config).start()
    try:
        parsed = scrape_until_counting(service, port)
        assert all(name.startswith("smartstore_edge_") for name, _, _ in parsed.samples)
        assert (parsed.value("smartstore_edge_fps", camera="entrance") or 0) > 0
        assert (parsed.value("smartstore_edge_inference_latency_seconds", camera="entrance") or 0) > 0
        assert parsed.value("smartstore_edge_frames_dropped_total", camera="entrance") is not None
        assert parsed.value("smartstore_edge_camera_up", camera="entrance") == 1
        for gauge in ("outbox_pending", "outbox_unreceipted", "outbox_bytes", "outbox_cap_bytes",
                      "mqtt_rejected_total", "mqtt_acked_total", "cpu_seconds_total", "uptime_seconds"):
            assert parsed.value(f"smartstore_edge_{gauge}") is not None, gauge
        assert parsed.value("smartstore_edge_outbox_cap_bytes") == 256 * 2**20
        manifest = Manifest.load("person-ssdlite")
        model = parsed.labels("smartstore_edge_model_info")
        assert model == {**model, "model": "person-ssdlite", "engine": "openvino", "precision": "int8",
                         "sha256": manifest.select("openvino", "int8").sha256, "version": str(manifest.version)}
        assert parsed.labels("smartstore_edge_info") == {"store": "store-1", "device": "edge-1"}
        assert parsed.types["smartstore_edge_frames_total"] == "counter"
        assert parsed.types["smartstore_edge_fps"] == "gauge"
        for path in ("/", "/metricsx", "/metrics/extra"):
            assert get(port, path)[0] == 404, path
        assert get(port, "/metrics?format=text")[0] == 200
        service.signal(signal.SIGTERM)
        assert service.wait() == 0, service.raw_log()
        with pytest.raises(ConnectionRefusedError):
            get(port)
    finally:
        service.kill()


@pytest.mark.slow
def test_metrics_off_by_default_nothing_listens(broker: Mosquitto, clip: Path, tmp_path: Path) -> None:
    config = edge_config(tmp_path, broker.port, clip, camera={"loop": True, "pace": True})
    assert not parse_config(config).metrics.enabled
    service = ServiceProcess(tmp_path, config).start()
    try:
        assert service.wait_log("service started", timeout=90), service.raw_log()
        assert service.proc is not None
        time.sleep(1.0)
        assert listening_sockets(service.proc.pid) == []
        assert "metrics:" not in service.raw_log()
        service.signal(signal.SIGTERM)
        assert service.wait() == 0, service.raw_log()
    finally:
        service.kill()


def test_metrics_config_defaults_and_errors() -> None:
    metrics = parse_config(MINIMAL).metrics
    assert (metrics.enabled, metrics.host, metrics.port) == (False, "127.0.0.1", 9464)
    chosen = parse_config({**MINIMAL, "metrics": {"enabled": True, "host": "0.0.0.0", "port": 9100}}).metrics
    assert (chosen.enabled, chosen.host, chosen.port) == (True, "0.0.0.0", 9100)
    for bad, message in (({"colour": "blue"}, "metrics.colour"), ({"port": 0}, "metrics.port = 0"),
                         ({"port": 70000}, "metrics.port = 70000"), ({"host": ""}, "metrics.host")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_config({**MINIMAL, "metrics": bad})


def test_non_loopback_hosts_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    assert not any(exposed(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert all(exposed(h) for h in ("0.0.0.0", "::", "192.168.1.20", "edge-01.store.lan"))

    class Service:  # start_metrics reads only the config before it binds; 192.0.2.1 (TEST-NET) is no address here
        config = parse_config({**MINIMAL, "metrics": {"enabled": True, "host": "192.0.2.1", "port": 1}})

    with caplog.at_level(logging.WARNING, logger="smartstore.metrics"):
        stop = start_metrics(Service())  # type: ignore[arg-type]
    stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "192.0.2.1" in warnings[0] and "not loopback" in warnings[0]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "cannot listen on 192.0.2.1:1" in errors[0]  # logged; the service runs on without it


def test_render_escapes_labels_and_help() -> None:
    family = Family("model_info", "gauge", "help with \\ and\na newline")
    family.add(1, model='a "quoted"\\name\nwith newline', sha256="ab")
    family.add(None, model="left out")
    empty = Family("cpu_temperature_celsius", "gauge", "no thermal zone")
    counter = Family("frames_total", "counter", "frames")
    counter.add(12.0, camera="door")
    counter.add(0.25, camera="aisle")
    text = render([family, empty, counter])
    assert "# HELP smartstore_edge_model_info help with \\\\ and\\na newline\n" in text
    assert 'model="a \\"quoted\\"\\\\name\\nwith newline"' in text
    assert "cpu_temperature_celsius" not in text
    assert 'smartstore_edge_frames_total{camera="door"} 12\n' in text
    parsed = parse(text)
    assert parsed.labels("smartstore_edge_model_info")["model"] == 'a "quoted"\\name\nwith newline'
    assert parsed.value("smartstore_edge_frames_total", camera="aisle") == 0.25
