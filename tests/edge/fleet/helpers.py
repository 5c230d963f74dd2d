"""Fleet test helpers: a fake service behind the command channel, fleet keys, signed bundles, a local HTTP
server that serves Range requests and can cut a connection part-way (no internet needed), and the collector's side
of MQTT 5 requests (:class:`Requester`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.commands import Command, Reply
from contract.signing import public_line, sign_bundle
from contract.topics import command_topic, reply_topic
from edge.commands import CommandChannel
from edge.fleet_config import FleetConfig
from edge.labels import PriceBoard


@dataclass
class FakeHost:
    """What the channel drives on a real service, recorded."""

    model_name: str = "m"
    applied: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[Path | None] = field(default_factory=list)
    fail_restart: bool = False

    def apply_config(self, config: dict[str, Any]) -> list[str]:
        self.applied.append(config)
        return ["cam1"]

    def restart_pipeline(self, model_dir: Path | None) -> None:
        if self.fail_restart:
            raise ValueError("the model does not load")
        self.restarts.append(model_dir)

    def status(self) -> dict[str, Any]:
        return {"frames": 7}


@dataclass
class Fleet:
    """A fleet key, the box's key file and bundle folder, and a channel for store s1 device d1 with replies kept."""

    root: Path
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    host: FakeHost = field(default_factory=FakeHost)
    replies: list[tuple[str, Reply, bytes | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "fleet.pub").write_text(public_line(self.key.public_key()) + "\n")
        self.config = FleetConfig(public_keys=self.root / "fleet.pub", bundle_dir=self.root / "bundles",
                                  fetch_timeout_s=5, fetch_attempts=3)
        self.channel = self.new_channel()

    def new_channel(self, send: Any = None, labels: PriceBoard | None = None) -> CommandChannel:
        return CommandChannel(self.config, "s1", "d1", "smartstore/v1", self.host, send or self._keep, self.root,
                              labels=labels)

    def _keep(self, topic: str, payload: bytes, correlation: bytes | None) -> None:
        self.replies.append((topic, Reply.parse(payload), correlation))

    def bundle(self, server: BundleServer, version: int, **scope: Any) -> dict[str, Any]:
        """A signed model bundle ``m`` version ``version`` served by ``server``."""
        folder = server.root / "m" / str(version)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.yaml").write_text(f"name: m\nversion: {version}\n")
        (folder / "weights.bin").write_bytes(bytes(range(256)) * (40 * version))
        return sign_bundle(self.key, "m", version, folder=folder, url_base=f"{server.url}/m/{version}", **scope)

    def run(self, command_name: str, /, **args: Any) -> Reply:
        """Send ``command_name`` through the channel (as the MQTT thread does) and apply it here; the final reply."""
        command = Command(command_name, "s1", "d1", args)
        self.channel.on_message(command.to_json(), None, b"corr")
        request = self.channel._queue.get_nowait()
        assert request is not None
        self.channel.process(request)
        return self.replies[-1][1]


class BundleServer:
    """Serves ``root`` over http://127.0.0.1 with Range support; ``cut_after`` bytes cuts the next response."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        self.tamper: dict[str, bytes] = {}  # path -> bytes served instead
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = server.tamper.get(self.path, path.read_bytes())
                header = self.headers.get("Range")
                server.ranges.append(header)
                start = int(header.split("=")[1].split("-")[0]) if header else 0
                self.send_response(206 if header else 200)
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None:
                    body, server.cut_after = body[:server.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-file
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Requester:
    """The collector's side: publishes commands to s1/d1 as MQTT 5 requests and collects the replies with their
    correlation data (it subscribes again after a broker restart: paho reconnects it)."""

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
