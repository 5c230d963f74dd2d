"""A full export of a trained YOLO through the CLI, with networking removed (``unshare -n`` as root): every format
at FP32/FP16/INT8, the INT8 accuracy gate on real annotations, and INT8 detections matching FP32 per engine.

The model is ``tests/export/data/person-yolo11n-160.pt``: YOLO11n trained from scratch at 160 px on person boxes
of the MOTChallenge TUD sequences (``smartstore export train``; see docs/export.md). Validation uses the held-out
frames of the same sequences (every 4th frame), derived from ``../shared/data/mot`` by ``export.mot_dataset``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.models import Manifest
from tests.conftest import REPO, SHARED_DATA, VTEST
from tools.quality import matched_ious

WEIGHTS = Path(__file__).parent / "data" / "person-yolo11n-160.pt"
ENGINES = ("onnxruntime", "openvino", "litert")


@dataclass
class Export:
    out: Path
    data: Path | None
    offline: bool
    stdout: str


def _offline_prefix() -> list[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return []
    return ["unshare", "-n"] if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0 else []


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Export:
    tmp = tmp_path_factory.mktemp("export")
    data = None
    if (SHARED_DATA / "mot").is_dir():
        from export.mot_dataset import convert

        data = convert(SHARED_DATA / "mot", tmp / "mot-person")
        calib = [tmp / "mot-person" / "images" / "train"]
    elif VTEST.exists():
        calib = [VTEST]
    else:
        pytest.skip("no calibration frames: neither ../shared/data/mot nor opencv-doc's vtest.avi")
    prefix = _offline_prefix()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENVINO_TELEMETRY_DISABLE", "YOLO_OFFLINE",
                                                            "YOLO_AUTOINSTALL")}  # the command sets them itself
    cmd = [*prefix, str(Path(sys.executable).with_name("smartstore")), "export", "yolo", str(WEIGHTS), "--imgsz", "160",
           "--precision", "fp32,fp16,int8", "--calib", str(calib[0]), "--calib-count", "32", "--out", str(tmp / "m")]
    if data is not None:
        cmd += ["--val", str(data)]
    done = subprocess.run(cmd, cwd=REPO, env={**env, "TQDM_DISABLE": "1"}, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return Export(tmp / "m", data, bool(prefix), done.stdout)


def test_every_file_with_sha256_labels_and_tool_versions(exported: Export) -> None:
    manifest = Manifest.load(exported.out / "model.yaml")
    assert sorted(manifest.variants()) == sorted(
        [(e, p) for e in ENGINES for p in ("fp32", "fp16", "int8") if (e, p) != ("litert", "fp16")])
    assert all(error is None for _, error in manifest.verify())
    assert manifest.architecture == "yolo" and manifest.input.width == 160
    assert manifest.labels == ["person"] and manifest.label_map == {"person": 0}
    tools = ("ultralytics", "torch", "onnx", "onnxruntime", "openvino", "nncf", "litert-torch", "ai-edge-quantizer")
    assert all(manifest.tools.get(tool) for tool in tools), manifest.tools


def test_accuracy_gate_on_real_annotations(exported: Export) -> None:
    if exported.data is None:
        pytest.skip("../shared/data/mot absent: no annotated validation set")
    manifest = Manifest.load(exported.out / "model.yaml")
    for engine in ENGINES:
        fp32, int8 = manifest.select(engine, "fp32").metrics, manifest.select(engine, "int8").metrics
        assert fp32["mAP50"] > 0.5, (engine, fp32)  # a real detector, so the comparison means something
        assert fp32["mAP50-95"] - int8["mAP50-95"] <= 0.01, (engine, fp32, int8)
        assert f"gate {engine}: FP32 mAP50" in exported.stdout


def _frames(exported: Export) -> list[np.ndarray]:
    if exported.data is not None:
        return [cv2.imread(str(p)) for p in sorted((exported.data.parent / "images" / "val").glob("*.jpg"))[::3]]
    from tests.edge.models_fixtures import vtest_frames

    return vtest_frames(list(range(0, 400, 20)))


def test_int8_detections_match_fp32_on_every_engine(exported: Export) -> None:
    from edge.detector import Detector

    frames = _frames(exported)
    report = {}
    for engine in ENGINES:
        options = {"inference_precision": "f32"} if engine == "openvino" else {}
        ref = Detector.from_manifest(str(exported.out), engine, "fp32", conf=0.4, **options)
        got = Detector.from_manifest(str(exported.out), engine, "int8", conf=0.4, **options)
        ious, n_ref, n_got = [], 0, 0
        for frame in frames:
            a, b = ref(frame), got(frame)
            n_ref, n_got = n_ref + len(a), n_got + len(b)
            ious.extend(matched_ious(a.xyxy, b.xyxy, iou=0.3).tolist())
        matched = np.asarray(ious)
        report[engine] = {"fp32": n_ref, "int8": n_got, "matched": len(matched),
                          "median_iou": round(float(np.median(matched)), 3) if len(matched) else 0.0}
        assert n_ref >= 30, report  # there are detections to match
        assert len(matched) >= 0.85 * n_ref, report
        assert np.median(matched) >= 0.9, report


def test_export_ran_without_network(exported: Export) -> None:
    if not exported.offline:
        pytest.skip("networking can only be removed as root with unshare(1); the export above ran with it")
    assert exported.offline
