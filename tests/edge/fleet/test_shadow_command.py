"""A shadow candidate started, replaced and stopped by ``apply_config`` on a real EdgeService: loaded off the frame
loop, swapped in between frames; the one it replaces reports its interval so far; a candidate that cannot load is
refused and leaves the running one in place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.shadow import ShadowRunner
from edge.vision.detections import Detections
from tests.edge.fleet.helpers import Fleet
from tests.edge.fleet.test_service_host import _on_main_thread, _service
from tests.edge.test_model_versions import runnable

CANDIDATE = {"model": "person-ssdlite", "engine": "onnxruntime", "precision": "int8", "every_n": 1}


def test_shadow_by_command(tmp_path: Path, fleet: Fleet) -> None:
    _, item = runnable("person-ssdlite", "onnxruntime", "int8")
    service = _service(tmp_path, fleet)
    host = service.fleet
    assert host is not None
    try:
        start = {"cameras": {"cam1": {"shadow": CANDIDATE}}}
        assert _on_main_thread(host, lambda: host.apply_config(start)) == ["cam1"]
        runner = service.shadows["cam1"]
        assert isinstance(runner, ShadowRunner) and runner.candidate is not None
        assert runner.candidate.sha256 == item.sha256 and runner.config.every_n == 1
        runner.observe(np.zeros((240, 320, 3), np.uint8), 1.8e9, Detections.empty(), [])

        with pytest.raises(ValueError, match=r"config command: cameras\[0\]\.shadow: model='shelf-products'"):
            bad = {"cameras": {"cam1": {"shadow": {**CANDIDATE, "model": "shelf-products"}}}}
            _on_main_thread(host, lambda: host.apply_config(bad))
        assert service.shadows["cam1"] is runner  # refused: the running candidate stays

        stop = {"cameras": {"cam1": {"shadow": None}}}
        assert _on_main_thread(host, lambda: host.apply_config(stop)) == ["cam1"]
        assert "cam1" not in service.shadows and service.config.cameras[0].shadow is None
        [reported] = [json.loads(p.payload) for p in service.outbox.pending() if b'"model.shadow"' in p.payload]
        assert reported["camera"] == "cam1" and reported["data"]["frames"] == 1
        assert reported["model"]["sha256"] == item.sha256
    finally:
        host.stop()
        service.outbox.close()
