"""restart_pipeline on a running EdgeService (a stand-in detector, a generated video): the new detector is loaded
beside the old one and swapped in between frames; counting goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from contract.signing import public_line
from edge.config import parse_config
from edge.pipeline import Pipeline
from edge.service import EdgeService
from edge.vision.detections import Detections
from tests.edge.fleet.helpers import Fleet


class StandIn:
    """A detector that finds nothing and counts the frames it saw."""

    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, frame: Any, /) -> Detections:
        return Detections.empty()

    def stream(self, frames: Iterable[tuple[Any, Any]], /) -> Iterator[tuple[Any, Detections]]:
        for item, _image in frames:
            self.frames += 1
            yield item, Detections.empty()


def _video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(50):
        writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    writer.release()
    return path


def test_restart_pipeline_swaps_the_detector_between_frames(tmp_path: Path, fleet: Fleet,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fleet.pub").write_text(public_line(fleet.key.public_key()) + "\n")
    config = parse_config({"store": "s1", "device": "d1", "mqtt": {"port": 1, "reconnect": {"min_s": 5}},
                           "cameras": [{"id": "cam1", "source": str(_video(tmp_path / "v.avi")), "loop": True}],
                           "outbox": {"path": str(tmp_path / "outbox.db")}, "health_interval_s": 3600,
                           "fleet": {"public_keys": str(tmp_path / "fleet.pub")}})
    old, new = StandIn(), StandIn()
    service = EdgeService(config, pipeline=Pipeline(old, "stand-in", "fp32", "CPU"))
    monkeypatch.setattr("edge.pipeline.load_pipeline", lambda *_a, **_k: Pipeline(new, "stand-in", "fp32", "CPU"))
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while old.frames < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.fleet is not None and old.frames >= 5
        service.fleet.restart_pipeline(None)  # what the command worker does
        while new.frames < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.pipeline is not None and service.pipeline.detector is new and new.frames >= 5
        frames_then = old.frames
        time.sleep(0.3)
        assert old.frames == frames_then  # the old detector gets no more frames
    finally:
        service.stop()
        runner.join(30)
    assert not runner.is_alive()
