"""Precision/recall matching, and the shipped person detector's quality on the annotated TUD sequences (../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.detect import read_frames
from edge.detector import Detector
from edge.vision.quality import evaluate, load_mot_gt, matched
from tests.edge.models_fixtures import built_manifest


def test_matching_is_one_to_one() -> None:
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    pred = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 31, 10], [50, 50, 60, 60]], np.float32)
    assert matched(pred, gt, 0.5) == 2  # two predictions on the first person count once
    assert matched(pred[:0], gt) == 0 and matched(pred, gt[:0]) == 0


def test_mot_gt_loader(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,1,10,20,30,40,1,-1,-1,-1\n1,2,0,0,5,5,0,-1,-1,-1\n3,1,12,20,30,40,1,-1,-1,-1\n")
    gt = load_mot_gt(path)
    assert sorted(gt) == [1, 3] and gt[1].tolist() == [[10, 20, 40, 60]]  # conf 0 rows ignored


@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte"])
def test_person_detector_quality_on_tud(shared_data: Path, name: str) -> None:
    """FP16 finds most annotated people with few false alarms; INT8 loses at most 1 point of recall (conf 0.3, 0.5)."""
    built_manifest("person-ssdlite")
    sequence = shared_data / "mot" / name
    gt = load_mot_gt(sequence / "gt" / "gt.txt")
    frames = list(read_frames(sequence / f"{name}.mp4"))
    results = {}
    for precision in ("fp16", "int8"):
        detector = Detector.from_manifest("person-ssdlite", precision=precision, conf=0.3, hint="THROUGHPUT")
        results[precision] = [(index + 1, dets) for (index, _), dets in detector.stream(((i, f), f) for i, f in frames)]
    fp16 = evaluate(results["fp16"], gt, iou=0.5, conf=0.3)
    assert fp16.tp + fp16.fn == sum(len(b) for b in gt.values()) > 300
    assert fp16.precision > 0.85 and fp16.recall > 0.65
    for conf in (0.3, 0.5):
        reference, quantised = (evaluate(results[p], gt, iou=0.5, conf=conf) for p in ("fp16", "int8"))
        assert quantised.recall >= reference.recall - 0.01, (conf, reference, quantised)
