"""``smartstore edge check``: validate the config, open each camera, load the model, reach the broker and each
shelf-label gateway.

Each step is reported as one line (``ok`` or ``FAIL`` with the reason); the check goes on after a failure so
one run shows every problem.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from edge.config import CameraConfig, EdgeConfig, load_config
from hardware.labels.base import GatewayConfig


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def _step(name: str, action: Callable[[], str]) -> Step:
    try:
        return Step(name, True, action())
    except Exception as exc:
        return Step(name, False, str(exc) or type(exc).__name__)


def _print(step: Step) -> None:
    print(step.line(), flush=True)


def check(config_path: Path, broker_timeout: float = 10.0, report: Callable[[Step], None] = _print) -> bool:
    """Run every step, reporting each; True when all passed."""
    steps: list[Step] = []

    def run(name: str, action: Callable[[], str]) -> Step:
        step = _step(name, action)
        report(step)
        steps.append(step)
        return step

    holder: dict[str, EdgeConfig] = {}

    def validate() -> str:
        holder["config"] = config = load_config(config_path)
        return f"store {config.store}, device {config.device}, {len(config.cameras)} camera(s)"

    if not run("config", validate).ok:
        return False
    config = holder["config"]
    for camera in config.cameras:
        run(f"camera {camera.id}", partial(_open_camera, camera))
    run("model", lambda: _load_model(config, config_path))
    run("outbox", lambda: _open_outbox(config))
    run("broker", lambda: _connect(config, broker_timeout))
    for i, gateway in enumerate(config.labels.gateways if config.labels else []):
        run(f"label gateway {i}", partial(_probe_gateway, gateway))
    return all(s.ok for s in steps)


def _open_camera(camera: CameraConfig) -> str:
    from edge.capture import open_source

    cap = open_source(camera)
    try:
        ok, image = cap.read()
        if not ok or image is None:
            raise OSError(f"opened {camera.source} but read no frame")
        fps = cap.get(5)  # cv2.CAP_PROP_FPS
        return f"{image.shape[1]}x{image.shape[0]} at {fps:.1f} fps"
    finally:
        cap.release()


def _load_model(config: EdgeConfig, config_path: Path) -> str:
    import numpy as np

    from edge.pipeline import load_pipeline

    pipeline = load_pipeline(config, str(config_path))
    frame = np.zeros((480, 640, 3), np.uint8)
    start = time.perf_counter()
    pipeline.detector(frame)
    ms = (time.perf_counter() - start) * 1000
    return (f"{config.model.name} on {pipeline.engine}/{pipeline.device} at {pipeline.precision}, "
            f"first inference {ms:.0f} ms")


def _open_outbox(config: EdgeConfig) -> str:
    from edge.outbox import Outbox

    outbox = Outbox(config.outbox.path, config.outbox.cap_bytes, config.mqtt.topic_prefix)
    try:
        integrity = outbox.integrity_check()
        if integrity != "ok":
            raise OSError(f"{config.outbox.path}: integrity check says {integrity}")
        stats = outbox.stats()
        return (f"{config.outbox.path}: {stats.pending} pending, cap {config.outbox.cap_mb:g} MB, "
                f"dropped {stats.dropped}")
    finally:
        outbox.close()


def _probe_gateway(gateway: GatewayConfig) -> str:
    """Reach one shelf-label gateway (``labels.gateways``) without changing a label."""
    from hardware.labels.base import create

    return create(gateway).probe()


def _connect(config: EdgeConfig, timeout: float) -> str:
    from edge.mqtt import Publisher
    from edge.outbox import Outbox

    with tempfile.TemporaryDirectory() as tmp:  # an empty outbox: connect only, publish no events
        outbox = Outbox(Path(tmp) / "check.db", topic_prefix=config.mqtt.topic_prefix)
        publisher = Publisher(config.mqtt, config.store, config.device, outbox, f"{config.client_id}-check",
                              announce=False)
        publisher.start()
        try:
            if not publisher.wait_connected(timeout):
                raise OSError(f"{config.mqtt.host}:{config.mqtt.port}: "
                              f"{publisher.stats.last_error or 'no answer'} (after {timeout:g} s)")
        finally:
            publisher.stop(flush_timeout=0)
            outbox.close()
    return f"connected to {config.mqtt.host}:{config.mqtt.port} (MQTT {config.mqtt.protocol})"
