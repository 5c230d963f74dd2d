"""Test helpers for the edge service: a real MQTT subscriber collecting events from the test broker."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def is_status(topic: str) -> bool:
    """``<prefix>/<store>/<device>/status`` (the prefix has two levels here), not an event such as queue/status."""
    return topic.count("/") == 4 and topic.endswith("/status")


class Subscriber:
    """Subscribes to ``topic`` on 127.0.0.1:``port`` (QoS 1) and keeps every message as (topic, payload, retain)."""

    def __init__(self, port: int, topic: str = "smartstore/#", client_id: str | None = None,
                 persistent: bool = False) -> None:
        """``persistent``: a session the broker keeps (and queues for) while we are away or it restarts."""
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.reconnect_delay_set(0.1, 0.5)
        if persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        else:
            self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if not is_status(t)]

    def statuses(self) -> list[tuple[dict[str, Any], bool]]:
        with self._lock:
            return [(json.loads(p), r) for t, p, r in self.messages if is_status(t) and p]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return bool(predicate(self))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


REPO = Path(__file__).resolve().parents[3]
SMARTSTORE = REPO / ".venv" / "bin" / "smartstore"


def write_clip(source: Path, target: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``source`` as an MJPEG AVI at 10 fps."""
    import cv2

    cap = cv2.VideoCapture(str(source))
    writer: Any = None
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
        writer.write(frame)
    writer.release()
    cap.release()
    return target


def edge_config(folder: Path, port: int, video: Path, **overrides: Any) -> dict[str, Any]:
    """A service config for tests: one camera on ``video`` with a line and a zone that people in vtest.avi cross."""
    camera = {"id": "entrance", "source": str(video), "loop": False, "pace": False,
              "lines": [{"name": "door", "points": [[0, 300], [768, 300]]}],
              "zones": [{"name": "plaza", "polygon": [[100, 100], [668, 100], [668, 500], [100, 500]]}]}
    camera.update(overrides.pop("camera", {}))
    config: dict[str, Any] = {
        "store": "store-1", "device": "edge-1", "cameras": [camera], "health_interval_s": 1.0,
        "log_level": "info", "model": {"name": "person-ssdlite", "engine": "openvino", "precision": "int8"},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect": {"min_s": 0.2, "max_s": 1.0}, "keepalive_s": 5},
        "outbox": {"path": str(folder / "outbox.db")},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


class ServiceProcess:
    """``smartstore edge run`` as a child process with its JSON log captured to a file."""

    def __init__(self, folder: Path, config: dict[str, Any], name: str = "edge") -> None:
        import yaml

        self.config_path = folder / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = folder / f"{name}.log"
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([str(SMARTSTORE), "edge", "run", "--config", str(self.config_path)],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        return self

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def raw_log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.raw_log():
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return text in self.raw_log()
            time.sleep(0.1)
        return False

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 120.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
