"""The person detector's ONNX Runtime and LiteRT files (``ssd-raw``: the graph before its post-processor, decoded
in Python with the project's NMS) against its OpenVINO FP16 file (the graph's own post-processing) on the
annotated TUD sequences (../shared; nothing was tuned on them), at conf 0.3 and 0.5: every file's recall within
1 point of OpenVINO's either way, INT8 also within 1 point of its engine's FP32 file; precision at most 2 points
below OpenVINO's."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.detect import read_frames
from edge.detector import Detector
from tests.edge.models_fixtures import built_manifest
from tools.quality import Counts, evaluate, load_mot_gt

FILES = [("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("litert", "fp32"), ("litert", "int8")]


@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte"])
def test_onnxruntime_and_litert_agree_with_openvino(shared_data: Path, name: str) -> None:
    manifest = built_manifest("person-ssdlite")
    sequence = shared_data / "mot" / name
    gt = load_mot_gt(sequence / "gt" / "gt.txt")
    frames = list(read_frames(sequence / f"{name}.mp4"))
    recall: dict[tuple[str, str, float], Counts] = {}
    for engine, precision in [("openvino", "fp16"), *FILES]:
        assert manifest.architecture_of(manifest.select(engine, precision)) == (
            "ssd" if engine == "openvino" else "ssd-raw")
        detector = Detector.from_manifest("person-ssdlite", engine=engine, precision=precision, conf=0.3)
        results = [(index + 1, dets) for index, dets in detector.stream((i, f) for i, f in frames)]
        for conf in (0.3, 0.5):
            recall[engine, precision, conf] = evaluate(results, gt, iou=0.5, conf=conf)
    for conf in (0.3, 0.5):
        reference = recall["openvino", "fp16", conf]
        assert reference.recall > 0.6
        for engine, precision in FILES:
            got = recall[engine, precision, conf]
            # the same people within a point either way: fewer is lost recall, more is a score shift
            assert abs(got.recall - reference.recall) <= 0.01, (engine, precision, conf, reference, got)
            if precision == "int8":
                assert abs(got.recall - recall[engine, "fp32", conf].recall) <= 0.01, (engine, conf, got)
            assert got.precision >= reference.precision - 0.02, (engine, precision, conf, reference, got)
