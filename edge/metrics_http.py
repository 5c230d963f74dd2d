"""A Prometheus endpoint for the edge service: ``GET /metrics`` (``metrics:`` in edge.yaml; off by default).

The numbers are those of the ``device.health`` events (:mod:`edge.health`), read from the running service when a
scraper asks: per camera fps, median capture-to-result latency, frames processed and dropped, camera state; outbox
depth, bytes, unreceipted rows and drops under the disk cap; MQTT connection and publish counters; the hottest
thermal zone where the box has one; an info metric naming the model, its bundle version, engine, precision,
accelerator and the model file's sha256. The server only reads (on its own daemon threads), in the text exposition
format 0.0.4, with the standard library's ``http.server`` (no client library). It listens on loopback unless
``metrics.host`` names another address, which is logged as a warning: the endpoint has no authentication.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from hardware.probe import hottest_temperature

if TYPE_CHECKING:
    from edge.service import EdgeService

__all__ = ["CONTENT_TYPE", "Family", "MetricsServer", "RateMeter", "collect", "exposed", "render", "start_metrics"]
log = logging.getLogger("smartstore.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "smartstore_edge_"


@dataclass
class Family:
    """One metric family: ``name`` without the ``smartstore_edge_`` prefix, ``kind`` gauge or counter."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float | None, **labels: str) -> None:
        """A sample; ``None`` (not known, e.g. no thermal zone) leaves it out."""
        if value is not None:
            self.samples.append((labels, float(value)))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(families: Iterable[Family]) -> str:
    """The text exposition format: HELP and TYPE lines, then the samples; families without samples left out."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        name = PREFIX + family.name
        lines += [f"# HELP {name} {escape_help(family.help)}", f"# TYPE {name} {family.kind}"]
        for labels, value in family.samples:
            text = ",".join(f'{key}="{escape_label(str(val))}"' for key, val in labels.items())
            lines.append(f"{name}{{{text}}} {format_value(value)}" if text else f"{name} {format_value(value)}")
    return "\n".join(lines) + "\n"


def _snapshot(values: deque[float]) -> list[float]:
    """A copy of a deque the frame loop appends to (a copy during an append raises RuntimeError: try again)."""
    for _ in range(5):
        try:
            return list(values)
        except RuntimeError:
            continue
    return []


class RateMeter:
    """Frames per second per camera over about the last ``window_s``, from the frame counters seen at each scrape
    (and at :meth:`mark`, when the server starts), so the first scrape gives the rate since the start."""

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=1000)
        self._lock = threading.Lock()

    def mark(self, now: float, frames: dict[str, int]) -> None:
        with self._lock:
            self._samples.append((now, frames))

    def rates(self, now: float, frames: dict[str, int]) -> dict[str, float]:
        with self._lock:
            self._samples.append((now, frames))
            while len(self._samples) > 1 and self._samples[1][0] <= now - self.window_s:
                self._samples.popleft()  # keep the newest sample at least window_s old as the base
            then, before = self._samples[0]
        elapsed = now - then
        return {cam: round((n - before.get(cam, 0)) / elapsed, 3) if elapsed > 0 else 0.0 for cam, n in frames.items()}


def _camera_families(service: EdgeService, meter: RateMeter) -> list[Family]:
    frames = {cam: stats.frames for cam, stats in service.stats.items()}
    fps = meter.rates(time.monotonic(), frames)
    families = {f.name: f for f in (
        Family("fps", "gauge", f"Frames processed per second over about the last {meter.window_s:g} s"),
        Family("inference_latency_seconds", "gauge",
               "Median capture-to-result latency of the last 300 frames (device.health inference_ms)"),
        Family("frames_total", "counter", "Frames processed since the service started"),
        Family("frames_dropped_total", "counter", "Frames replaced by a newer one before they were processed"),
        Family("camera_up", "gauge", "1 while the camera delivers frames, else 0 (starting, lost, reconnecting)"),
        Family("camera_reconnects_total", "counter", "Times the camera was opened again after a loss"),
    )}
    for cam_id, camera in service.cameras.items():
        latencies = _snapshot(service.stats[cam_id].latencies_ms)
        latency = round(statistics.median(latencies) / 1000, 6) if latencies else None
        families["fps"].add(fps.get(cam_id, 0.0), camera=cam_id)
        families["inference_latency_seconds"].add(latency, camera=cam_id)
        families["frames_total"].add(frames.get(cam_id, 0), camera=cam_id)
        families["frames_dropped_total"].add(camera.dropped, camera=cam_id)
        families["camera_up"].add(camera.state == "streaming", camera=cam_id)
        families["camera_reconnects_total"].add(camera.reconnects, camera=cam_id)
    return list(families.values())


def _outbox_families(service: EdgeService) -> list[Family]:
    stats = service.outbox.stats()
    pending = Family("outbox_pending", "gauge", "Events in the outbox: not yet published, or waiting for a receipt")
    unreceipted = Family("outbox_unreceipted", "gauge",
                         "Events the broker acknowledged that no collector receipt covers yet")
    size = Family("outbox_bytes", "gauge", "Bytes of the events in the outbox")
    cap = Family("outbox_cap_bytes", "gauge", "The outbox disk cap (outbox.cap_mb)")
    dropped = Family("outbox_dropped_total", "counter", "Events dropped unsent under the disk cap, by kind")
    pending.add(stats.pending)
    unreceipted.add(stats.unreceipted)
    size.add(stats.bytes)
    cap.add(stats.cap_bytes)
    for kind, count in sorted(stats.dropped.items()):
        dropped.add(count, kind=kind)
    return [pending, unreceipted, size, cap, dropped]


def _mqtt_families(service: EdgeService) -> list[Family]:
    stats = service.publisher.stats
    families = [
        Family("mqtt_connected", "gauge", "1 while connected to the broker, else 0"),
        Family("mqtt_connects_total", "counter", "Successful connections to the broker"),
        Family("mqtt_published_total", "counter", "Events handed to the broker (re-sends not included)"),
        Family("mqtt_acked_total", "counter", "Events the broker acknowledged"),
        Family("mqtt_rejected_total", "counter", "Events the broker refused, dropped (publish drops)"),
        Family("mqtt_resent_total", "counter", "Events published again for want of a collector receipt"),
    ]
    for family, value in zip(families, (service.publisher.connected, stats.connects, stats.published, stats.acked,
                                        stats.rejected, stats.resent), strict=True):
        family.add(value)
    return families


def _device_families(service: EdgeService, started: float) -> list[Family]:
    config, pipeline = service.config, service.pipeline
    info = Family("info", "gauge", "The store and device this box reports as")
    info.add(1, store=config.store, device=config.device)
    model = Family("model_info", "gauge", "The person detector running: model, bundle version, engine, precision, "
                   "accelerator and the model file's sha256")
    if pipeline is not None:
        ref = pipeline.model  # name, version (a deployed bundle's or the manifest's) and sha256, as events carry
        detector: Any = pipeline.detector
        model.add(1, model=ref.name if ref else config.model.name, version=str(ref.version) if ref else "",
                  engine=pipeline.engine, precision=pipeline.precision, accelerator=str(pipeline.device),
                  sha256=ref.sha256 if ref else str(getattr(getattr(detector, "file", None), "sha256", "")))
    temperature = Family("cpu_temperature_celsius", "gauge", "The hottest thermal zone (absent where none is read)")
    temperature.add(hottest_temperature())
    cpu = Family("cpu_seconds_total", "counter", "CPU time of the edge process, all threads")
    cpu.add(time.process_time())
    uptime = Family("uptime_seconds", "gauge", "Seconds since the metrics endpoint started with the service")
    uptime.add(round(time.monotonic() - started, 3))
    return [info, model, temperature, cpu, uptime]


def collect(service: EdgeService, meter: RateMeter, started: float) -> list[Family]:
    """Every family, read from ``service`` now."""
    return [*_camera_families(service, meter), *_outbox_families(service), *_mqtt_families(service),
            *_device_families(service, started)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    scrape: Callable[[], str]


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "smartstore-edge-metrics"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._send(404, b"not found: the metrics are at /metrics\n", "text/plain; charset=utf-8", body)
            return
        try:
            payload = self.server.scrape().encode()
        except Exception:
            log.exception("metrics: scrape failed")
            self._send(500, b"scrape failed (see the service log)\n", "text/plain; charset=utf-8", body)
            return
        self._send(200, payload, CONTENT_TYPE, body)

    def _send(self, status: int, payload: bytes, content_type: str, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics: %s " + format, self.address_string(), *args)


class MetricsServer:
    """``GET /metrics`` for ``service`` on ``host:port`` (port 0: any free one, see :attr:`port`)."""

    def __init__(self, service: EdgeService, host: str = "127.0.0.1", port: int = 9464) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._httpd = server_class((host.strip("[]"), port), _Handler)  # binds now: OSError when it cannot
        self.service = service
        self.host = host
        self.meter = RateMeter()
        self.started = time.monotonic()
        self.meter.mark(self.started, {cam: stats.frames for cam, stats in service.stats.items()})
        self._httpd.scrape = lambda: render(collect(self.service, self.meter, self.started))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics: serving http://%s:%d/metrics", self.host, self.port)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def exposed(host: str) -> bool:
    """Whether ``host`` is reachable from other machines (anything but a loopback address or ``localhost``)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True  # a host name or an interface address: other machines may reach it


def start_metrics(service: EdgeService) -> Callable[[], None]:
    """Start the endpoint when ``metrics.enabled``; returns what stops it (nothing to stop when it is off, or when
    it cannot listen: that is logged as an error and the service runs on without it)."""
    config = service.config.metrics
    if not config.enabled:
        return lambda: None
    if exposed(config.host):
        log.warning("metrics: listening on %s, not loopback: anyone who can reach %s:%d reads the metrics "
                    "(no authentication)", config.host, config.host, config.port)
    try:
        server = MetricsServer(service, config.host, config.port).start()
    except OSError as exc:
        log.error("metrics: cannot listen on %s:%d: %s; no metrics endpoint", config.host, config.port, exc)
        return lambda: None
    return server.stop
