"""``smartstore detect`` / ``models`` through the real command in a subprocess: output, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.edge.models_fixtures import VTEST, built_manifest

REPO = Path(__file__).resolve().parents[2]


def smartstore(*args: str | Path, models: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if models is not None:
        env["SMARTSTORE_MODELS"] = str(models)
    command = [sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, cwd=REPO)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartstore: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    manifest = built_manifest("person-ssdlite")
    assert manifest.root is not None
    shutil.copytree(manifest.root, tmp_path / "models" / "person-ssdlite")
    return tmp_path / "models"


def test_detect_video_json_one_object_per_frame(tmp_path: Path) -> None:
    built_manifest("person-ssdlite")
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing: apt-get install opencv-doc")
    out = tmp_path / "annotated.mp4"
    proc = smartstore("detect", VTEST, "--model", "person-ssdlite", "--precision", "int8", "--max-frames", "5",
                      "--json", "--annotate", out)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    boxes = [d for r in records for d in r["detections"]]
    assert boxes and all(d["label"] == "person" and len(d["box"]) == 4 for d in boxes)
    assert all(0 <= d["box"][0] < d["box"][2] <= 768 and 0 <= d["box"][1] < d["box"][3] <= 576 for d in boxes)
    assert out.stat().st_size > 10_000


def test_bench_reports_every_measurement_side_by_side() -> None:
    """A one-second ``smartstore bench``: the report's shape and sane figures (speed targets live in docs)."""
    built_manifest("yolo11n")
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing: apt-get install opencv-doc")
    proc = smartstore("bench", "--model", "yolo11n", "--precision", "int8", "--seconds", "1", "--rounds", "1",
                      "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (row,) = report["results"]
    assert row["precision"] == "int8" and row["latency_ms_median"] > 0 and row["latency_runs"] > 1
    assert row["async_fps"] > 0 and row["pipeline_fps"] > 0 and row["pipeline_vs_async"] > 0
    assert 50 < report["edge_process_peak_rss_mb"] < report["bench_peak_rss_mb"] + 400
    if report.get("ultralytics_skipped"):
        pytest.skip(f"ultralytics not measured: {report['ultralytics_skipped']}")
    assert row["ultralytics_fps"] > 0 and row["ultralytics_memory_fps"] > 0
    assert row["pipeline_vs_ultralytics"] == pytest.approx(row["pipeline_fps"] / row["ultralytics_fps"])


def test_detect_image_with_tiles(tmp_path: Path) -> None:
    built_manifest("person-ssdlite")
    import cv2

    from tests.edge.models_fixtures import vtest_frames

    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), vtest_frames([50])[0])
    plain = smartstore("detect", image, "--json")
    tiled = smartstore("detect", image, "--json", "--tiles", "2x2")
    assert plain.returncode == 0 and tiled.returncode == 0, plain.stderr + tiled.stderr
    n_plain = len(json.loads(plain.stdout)["detections"])
    n_tiled = len(json.loads(tiled.stdout)["detections"])
    assert n_tiled >= n_plain > 0


def test_models_list_and_verify(models_copy: Path) -> None:
    listed = smartstore("models", "list", "--json", models=models_copy)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {(r["engine"], r["precision"]) for r in rows} == {
        ("openvino", "fp16"), ("openvino", "int8"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
        ("litert", "fp32"), ("litert", "int8")}
    assert all(r["present"] for r in rows)
    assert smartstore("models", "verify", models=models_copy).returncode == 0


def test_sha256_mismatch(models_copy: Path, tmp_path: Path) -> None:
    weights = models_copy / "person-ssdlite" / "build" / "openvino-fp16" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0x55
    weights.write_bytes(bytes(data))
    verify = smartstore("models", "verify", models=models_copy)
    assert verify.returncode == 1 and "FAIL person-ssdlite openvino/fp16" in verify.stdout
    proc = smartstore("detect", VTEST, "--precision", "fp16", models=models_copy)
    assert_one_line_error(proc, "sha256 mismatch", "model.bin")


def test_missing_model_file(models_copy: Path) -> None:
    (models_copy / "person-ssdlite" / "openvino-int8" / "model.xml").unlink()
    proc = smartstore("detect", VTEST, "--precision", "int8", models=models_copy)
    assert_one_line_error(proc, "missing", "model.xml")


def test_corrupt_model_file_with_matching_manifest(models_copy: Path) -> None:
    """A corrupt file whose manifest was (wrongly) re-hashed still fails with one line, from the engine."""
    from edge.models import Manifest, sha256_file

    folder = models_copy / "person-ssdlite"
    xml = folder / "openvino-int8" / "model.xml"
    xml.write_text("<net name='broken'><layers><layer")
    manifest = Manifest.load(folder)
    manifest.select("openvino", "int8").sha256 = sha256_file(xml)
    manifest.save()
    proc = smartstore("detect", VTEST, "--precision", "int8", models=models_copy)
    assert_one_line_error(proc, "openvino cannot read", "model.xml")


@pytest.mark.parametrize(("args", "needles"), [
    (["--model", "no-such-model"], ["unknown model 'no-such-model'"]),
    (["--engine", "tensorrt"], ["unknown engine 'tensorrt'"]),
    (["--engine", "litert", "--precision", "fp16"], ["no litert/fp16 file"]),
    (["--device", "TPU"], ["option 'device'", "TPU"]),
    (["--device", "NPU"], ["'NPU' is not available"]),
    (["--precision", "fp32"], ["no openvino/fp32 file"]),
])
def test_bad_model_options(args: list[str], needles: list[str]) -> None:
    built_manifest("person-ssdlite")
    assert_one_line_error(smartstore("detect", VTEST, *args), *needles)


def test_unreadable_inputs(tmp_path: Path) -> None:
    built_manifest("person-ssdlite")
    assert_one_line_error(smartstore("detect", tmp_path / "nope.jpg"), "nope.jpg", "no such file")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    assert_one_line_error(smartstore("detect", broken), "broken.png", "cannot decode image")
    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(4096))
    assert_one_line_error(smartstore("detect", video), "clip.mp4", "cannot read")
    assert_one_line_error(smartstore("bench", "--model", "person-ssdlite", "--video", video, "--seconds", "0.1"),
                          "clip.mp4", "cannot read")
