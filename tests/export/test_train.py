"""``smartstore export train``: offline ultralytics training on real annotations, ending with the export and gate."""

from __future__ import annotations

from pathlib import Path

import pytest

import smartstore
from edge.models import Manifest
from export.mot_dataset import convert


def test_train_then_export(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = convert(shared_data / "mot", tmp_path / "mot-person")
    out = tmp_path / "models" / "tiny-person"
    code = smartstore.main(["export", "train", "--data", str(data), "--model", "yolo11n.yaml", "--epochs", "1",
                            "--imgsz", "64", "--batch", "32", "--runs", str(tmp_path / "runs"), "--out", str(out),
                            "--formats", "onnx", "--precision", "fp32"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert (tmp_path / "runs" / "tiny-person" / "train" / "weights" / "best.pt").is_file()
    manifest = Manifest.load(out / "model.yaml")
    assert manifest.variants() == [("onnxruntime", "fp32")] and manifest.labels == ["person"]
    assert set(manifest.select("onnxruntime", "fp32").metrics) == {"mAP50", "mAP50-95"}  # validated on val
    assert "trained: " in printed and "manifest: " in printed
