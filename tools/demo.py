"""``smartstore demo``: Mosquitto + the collector on SQLite + the edge service counting people on ``vtest.avi``.

Everything runs on loopback in ``--workdir`` (default ``demo-out/``): the broker on a free port (Mosquitto; where no
mosquitto binary exists, an embedded pure-Python amqtt broker speaking MQTT 3.1.1), the collector
(ingest + API + dashboard) in this process, the edge service as a child process (``smartstore edge run``) with a
counting line across the walkway. The terminal shows progress; the dashboard URL carries the token.
``--once`` plays the video once, waits until every event is stored and exits; otherwise the video loops and
everything keeps running until Ctrl-C.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from collector.config import load_config
from collector.service import SMARTSTORE, Collector
from errors import SmartstoreError
from tools import VTEST
from tools.broker import LocalBroker, free_port, mosquitto_binary

if TYPE_CHECKING:
    from tools.embedded_broker import EmbeddedBroker


class DemoError(SmartstoreError):
    """What keeps the demo from starting (no broker, no sample video, a collector that does not come up)."""


BrokerKind = Literal["auto", "mosquitto", "embedded"]
STORE, DEVICE = "demo-store", "edge-demo"


@dataclass
class DemoResult:
    events: int
    footfall_in: int
    footfall_out: int
    devices: list[dict[str, Any]]
    url: str
    token: str
    edge_status: int | None


def edge_config(workdir: Path, broker_port: int, video: Path, once: bool, pace: bool, protocol: str = "5") -> Path:
    """An edge YAML for the demo camera: one line across the walkway, two zones."""
    config = {
        "store": STORE, "device": DEVICE, "log_level": "info", "health_interval_s": 10, "intervals_s": [60, 3600],
        "cameras": [{
            "id": "entrance", "source": str(video), "loop": not once, "pace": pace,
            "lines": [{"name": "walkway", "points": [[0, 330], [768, 330]]}],
            "zones": [{"name": "plaza", "polygon": [[60, 60], [708, 60], [708, 520], [60, 520]]},
                      {"name": "doorway", "kind": "queue", "polygon": [[0, 420], [300, 420], [300, 576], [0, 576]]}],
        }],
        "model": {"name": "person-ssdlite", "engine": "auto", "precision": "auto"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "protocol": protocol, "drain_rate": 0},
        "outbox": {"path": str((workdir / "outbox.db").resolve()), "cap_mb": 64},
    }
    path = workdir / "edge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _progress(collector: Collector, started: float, edge: subprocess.Popen[bytes], tty: bool) -> str:
    store = collector.store
    counts = store.counts()
    series = store.footfall_series(STORE)
    devices = store.devices(STORE)
    occupancy = sum(z["count"] for z in store.occupancy_live(STORE))
    online = sum(d["state"] == "online" for d in devices)
    state = "running" if edge.poll() is None else f"finished ({edge.returncode})"
    return (f"[{time.monotonic() - started:6.1f} s] edge {state} | events stored {counts['events']:6d} | "
            f"footfall in {sum(p['in'] for p in series):4d} out {sum(p['out'] for p in series):4d} | "
            f"occupancy {occupancy:3d} | devices online {online}/{len(devices)} | "
            f"dead letters {sum(counts['dead_letters'].values())}")


@dataclass
class DemoSession:
    collector: Collector
    broker: LocalBroker | EmbeddedBroker
    edge: subprocess.Popen[bytes]
    token: str

    @property
    def dashboard_url(self) -> str:
        return f"{self.collector.url}/dashboard/#token={self.token}"


def start_broker(workdir: Path, kind: BrokerKind = "auto") -> LocalBroker | EmbeddedBroker:
    """Mosquitto, or the embedded amqtt broker (``embedded``, or ``auto`` where no mosquitto binary exists)."""
    if kind == "mosquitto" or (kind == "auto" and mosquitto_binary() is not None):
        try:
            return LocalBroker(workdir / "mosquitto", free_port()).start()
        except FileNotFoundError as exc:
            raise DemoError(f"{exc}, or use --broker embedded") from None
    try:
        from tools.embedded_broker import EmbeddedBroker
    except ImportError:
        raise DemoError("no MQTT broker: apt-get install mosquitto, or pip install amqtt for the embedded one "
                        "(both come with make demo)") from None
    return EmbeddedBroker().start()


@contextmanager
def demo_session(workdir: Path, once: bool = False, video: Path = VTEST, api_port: int = 8080,
                 pace: bool | None = None, broker_kind: BrokerKind = "auto") -> Iterator[DemoSession]:
    """Broker, collector and edge service running; everything stopped (by PID) on exit."""
    if not video.exists():
        raise DemoError(f"{video} is missing: apt-get install opencv-doc (make demo does this)")
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("collector.db", "collector.db-wal", "collector.db-shm", "outbox.db", "outbox.db-wal",
                  "outbox.db-shm"):
        (workdir / stale).unlink(missing_ok=True)
    broker = start_broker(workdir, broker_kind)
    # amqtt: MQTT 3.1.1 only and no $share subscriptions
    protocol, shared = ("5", True) if isinstance(broker, LocalBroker) else ("3.1.1", False)
    token = secrets.token_urlsafe(18)
    port = api_port if api_port and _port_free(api_port) else free_port()
    config = load_config(None, {
        "store": str(workdir / "collector.db"), "mqtt.host": "127.0.0.1", "mqtt.port": broker.port,
        "mqtt.client_id": "collector-demo", "mqtt.protocol": protocol, "mqtt.shared": shared, "api.port": port,
        "api.token": token,
    })
    collector = Collector(config)
    edge: subprocess.Popen[bytes] | None = None
    try:
        collector.start()
        if not collector.wait_ready(30):
            raise DemoError("the collector did not come up within 30 s")
        edge_yaml = edge_config(workdir, broker.port, video, once, pace if pace is not None else not once, protocol)
        with (workdir / "edge.log").open("wb") as log:
            edge = subprocess.Popen([*SMARTSTORE, "edge", "run", "--config", str(edge_yaml)],
                                    stdout=log, stderr=subprocess.STDOUT)
        yield DemoSession(collector, broker, edge, token)
    finally:
        if edge is not None and edge.poll() is None:
            edge.send_signal(signal.SIGTERM)
            try:
                edge.wait(timeout=20)
            except subprocess.TimeoutExpired:
                edge.kill()
                edge.wait()
        collector.stop()
        broker.stop()


def run_demo(workdir: Path, once: bool = False, video: Path = VTEST, api_port: int = 8080, pace: bool | None = None,
             timeout_s: float = 900.0, quiet: bool = False, broker: BrokerKind = "auto") -> DemoResult:
    """Run the demo; returns what was stored (``--once``) or when interrupted."""
    say = (lambda *_, **__: None) if quiet else print
    with demo_session(workdir, once, video, api_port, pace, broker) as demo:
        collector = demo.collector
        kind = "mosquitto" if isinstance(demo.broker, LocalBroker) else "embedded amqtt broker (MQTT 3.1.1)"
        say(f"smartstore demo: {kind} on 127.0.0.1:{demo.broker.port}, collector store {workdir / 'collector.db'}")
        say(f"  dashboard: {demo.dashboard_url}")
        say(f"  API token: {demo.token}   (API: {collector.url}/openapi.json, metrics: {collector.url}/metrics)")
        say(f"  edge service: pid {demo.edge.pid} on {video.name} (log {workdir / 'edge.log'})"
            + ("; Ctrl-C stops the demo" if not once else ""))
        _wait(collector, demo.edge, once, timeout_s, say, sys.stdout.isatty())
        series = collector.store.footfall_series(STORE)
        result = DemoResult(collector.store.counts()["events"], sum(p["in"] for p in series),
                            sum(p["out"] for p in series), collector.store.devices(STORE), demo.dashboard_url,
                            demo.token, demo.edge.poll())
        say(f"smartstore demo: {result.events} events stored, footfall in {result.footfall_in} "
            f"out {result.footfall_out}; devices {json.dumps([(d['device'], d['state']) for d in result.devices])}")
        return result


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(collector: Collector, edge: subprocess.Popen[bytes], once: bool, timeout_s: float, say: Any,
          tty: bool) -> None:
    """Show progress until the edge service ends and its events are in (``once``) or until Ctrl-C."""
    started = time.monotonic()
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    last_line, stable_since, last_events = 0.0, None, -1
    try:
        while not interrupted.wait(0.5):
            now = time.monotonic()
            if now - last_line >= (1.0 if tty else 5.0):
                line = _progress(collector, started, edge, tty)
                say("\r" + line if tty else line, **({"end": "", "flush": True} if tty else {}))
                last_line = now
            if edge.poll() is not None:
                if not once:
                    say(f"\nthe edge service exited with status {edge.returncode}; see edge.log. Ctrl-C stops.")
                    interrupted.wait()
                    break
                events = collector.store.counts()["events"]
                if events != last_events:
                    last_events, stable_since = events, now
                elif stable_since is not None and now - stable_since > 2.0:
                    break
            if now - started > timeout_s:
                say(f"\nsmartstore demo: stopping after {timeout_s:.0f} s")
                break
        if tty:
            say("")
    finally:
        signal.signal(signal.SIGINT, previous)
