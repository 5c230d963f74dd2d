"""The accuracy gate's mixed-precision retry and its loud failure, on the trained person YOLO and real annotations.

With an impossible bound the gate must re-quantise the INT8 file with the whole detection head in float (a new
file, listed in the manifest) and then fail with a message naming the engine and the measured numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.models import Manifest
from export import gate, yolo
from export.common import ExportError
from export.mot_dataset import convert

WEIGHTS = Path(__file__).parent / "data" / "person-yolo11n-160.pt"


def test_gate_retries_with_the_head_in_float_then_fails_loudly(shared_data: Path, tmp_path: Path) -> None:
    data = convert(shared_data / "mot", tmp_path / "mot-person")
    result = yolo.export(WEIGHTS, tmp_path / "m", formats=["openvino"], precisions=["fp32", "int8"],
                         calib_sources=[tmp_path / "mot-person" / "images" / "train"], imgsz=160, calib_count=32)
    first = result.manifest.select("openvino", "int8").sha256
    assert result.kept == {"openvino/int8": "decode"}
    with pytest.raises(ExportError) as failure:
        gate.run(result, data, max_loss=-1.0)  # no INT8 file can gain 100 points
    message = str(failure.value)
    assert message.startswith("accuracy gate: openvino: FP32 mAP50 ") and "float kept: head" in message
    assert result.kept == {"openvino/int8": "head"}
    manifest = Manifest.load(tmp_path / "m" / "model.yaml")
    remade = manifest.select("openvino", "int8")
    assert remade.sha256 != first and manifest.verify_file(remade) is None
    assert remade.metrics["mAP50"] > 0.5 and manifest.select("openvino", "fp32").metrics["mAP50"] > 0.5
