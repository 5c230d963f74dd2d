"""Fleet test helpers: a fake service behind the command channel, fleet keys, signed bundles, and a local HTTP
server that serves Range requests and can cut a connection part-way (no internet needed)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.commands import Command, Reply
from contract.signing import public_line, sign_bundle
from edge.commands import CommandChannel
from edge.fleet_config import FleetConfig


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

    def new_channel(self, send: Any = None) -> CommandChannel:
        return CommandChannel(self.config, "s1", "d1", "smartstore/v1", self.host, send or self._keep, self.root)

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
