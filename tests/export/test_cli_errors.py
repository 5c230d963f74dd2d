"""Bad input to ``smartstore export``: one clear line each (exit 2), before any minutes of work."""

from __future__ import annotations

from pathlib import Path

import pytest

import smartstore

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert smartstore.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("smartstore: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_calibration_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["export", "yolo", "yolo11n.yaml", "--out", str(tmp_path / "m"), "--calib", str(tmp_path / "nope")],
                 capsys)
    assert f"calibration source {tmp_path / 'nope'} does not exist" in err


def test_too_few_calibration_images_says_how_many(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (OPENCV_DATA / "box.png").is_file():
        pytest.skip("opencv-doc not installed")
    folder = tmp_path / "calib"
    folder.mkdir()
    for name in ("box.png", "box_in_scene.png", "fruits.jpg"):
        (folder / name).write_bytes((OPENCV_DATA / name).read_bytes())
    err = _error(["export", "yolo", "yolo11n.yaml", "--out", str(tmp_path / "m"), "--calib", str(folder)], capsys)
    assert "found 3, need at least 16" in err


def test_int8_without_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["export", "yolo", "yolo11n.yaml", "--out", str(tmp_path / "m")], capsys)
    assert "INT8 needs calibration images" in err


def test_dataset_yaml_pointing_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: [person]\n")
    err = _error(["export", "yolo", "yolo11n.yaml", "--out", str(tmp_path / "m"), "--precision", "fp32",
                  "--val", str(data)], capsys)
    assert f"dataset {data}: field 'val': {tmp_path / 'images/val'} does not exist" in err
    err = _error(["export", "train", "--data", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "m")], capsys)
    assert "dataset YAML" in err and "does not exist" in err


def test_unsupported_format_and_precision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["export", "yolo", "yolo11n.yaml", "--out", str(tmp_path / "m"), "--formats", "onnx,tensorrt",
                  "--precision", "fp32"], capsys)
    assert "unsupported format tensorrt (choose from onnx, openvino, litert)" in err
    err = _error(["export", "embedder", "efficientnet-lite0", "--precision", "int4"], capsys)
    assert "unsupported precision int4" in err


def test_unknown_model_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["export", "embedder", "resnet50", "--precision", "fp32"], capsys)
    assert "unknown embedder 'resnet50' (known: efficientnet-lite0)" in err
    err = _error(["export", "yolo", "yolo99z.yaml", "--out", str(tmp_path / "m"), "--precision", "fp32"], capsys)
    assert "unknown model 'yolo99z.yaml'" in err
    err = _error(["export", "yolo", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m"), "--precision", "fp32"],
                 capsys)
    assert f"weights file {tmp_path / 'best.pt'} does not exist" in err
