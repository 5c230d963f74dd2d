"""YOLO and SSD decoding: a hand-built YOLO head output, and the real SSD person model on real frames."""

from __future__ import annotations

import numpy as np

from edge.detector import Detector
from edge.vision.decoders import DecodeParams, decode_yolo
from edge.vision.detections import box_iou
from tests.edge.models_fixtures import built_manifest, vtest_frames


def yolo_head(boxes_cxcywh: list[list[float]], scores: list[list[float]], n: int = 50) -> np.ndarray:
    """``[1, 4 + nc, n]``: the given anchors first, the rest background (all class scores 0.01)."""
    nc = len(scores[0])
    out = np.full((1, 4 + nc, n), 0.01, np.float32)
    out[0, :4] = 20.0
    for i, (box, score) in enumerate(zip(boxes_cxcywh, scores, strict=True)):
        out[0, :4, i] = box
        out[0, 4:, i] = score
    return out


def test_yolo_decode_boxes_classes_and_nms() -> None:
    head = yolo_head([[100, 100, 40, 80], [102, 101, 40, 80], [300, 200, 10, 10], [100, 100, 40, 80]],
                     [[0.9, 0.1], [0.8, 0.1], [0.2, 0.6], [0.1, 0.7]])
    dets = decode_yolo(head, 640, 640, DecodeParams(conf=0.25, iou=0.45))
    order = np.argsort(-dets.score)
    assert dets.score[order].tolist() == [np.float32(0.9), np.float32(0.7), np.float32(0.6)]
    assert dets.class_id[order].tolist() == [0, 1, 1]  # the 0.8 duplicate of class 0 is suppressed, class 1 kept
    np.testing.assert_allclose(dets.xyxy[order][0], [80, 60, 120, 140])
    only_first = decode_yolo(head, 640, 640, DecodeParams(conf=0.25, classes=(1,)))
    assert set(only_first.class_id.tolist()) == {1} and len(only_first) == 2


def test_yolo_normalised_boxes_are_scaled() -> None:
    head = yolo_head([[0.5, 0.25, 0.1, 0.1]], [[0.9]])
    dets = decode_yolo(head, 640, 320, DecodeParams(), normalized=True)
    np.testing.assert_allclose(dets.xyxy[0], [288, 64, 352, 96], rtol=1e-5)
    assert len(decode_yolo(head, 640, 320, DecodeParams(conf=0.95))) == 0


def test_ssd_person_model_finds_people_in_frame_pixels() -> None:
    manifest = built_manifest("person-ssdlite")
    frames = vtest_frames([0, 100, 200])
    fp16 = Detector.from_manifest("person-ssdlite", precision="fp16", conf=0.3)
    int8 = Detector.from_manifest("person-ssdlite", precision="int8", conf=0.3)
    for frame in frames:
        a, b = fp16(frame), int8(frame)
        assert len(a) >= 1, "vtest.avi frames show pedestrians"
        assert (a.class_id == manifest.class_id("person")).all()
        assert (a.xyxy[:, 2] > a.xyxy[:, 0]).all() and a.xyxy[:, 2].max() <= frame.shape[1]
        assert (a.xyxy[:, 3] - a.xyxy[:, 1]).max() > 30  # frame pixels, not 300x300 model pixels
        # INT8 finds the same confident people as FP16
        confident = a[a.score > 0.6]
        assert len(confident) and box_iou(confident.xyxy, b.xyxy).max(axis=1).min() > 0.7
