"""``ssd-raw`` decoding (TF OD API box coder, sigmoid scores, the project's NMS, clipping) on hand-built outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.vision.decoders import DecodeParams, SsdHead, decode_ssd_raw

ANCHORS = np.array([[0.4, 0.45, 0.6, 0.55],  # centre (0.5, 0.5), 0.2 high, 0.1 wide
                    [0.4, 0.45, 0.6, 0.55],
                    [0.0, 0.0, 0.2, 0.2],
                    [0.9, 0.9, 1.1, 1.1]], np.float32)  # reaches past the image corner
HEAD = SsdHead(ANCHORS, (10.0, 10.0, 5.0, 5.0), iou=0.6, max_detections=100)


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def raw(rows: list[tuple[list[float], list[float]]]) -> np.ndarray:
    """``[1, anchors, 4 + 1 + nc]`` from (ty, tx, th, tw) and class probabilities (background logit 0)."""
    return np.array([[[*codes, 0.0, *(logit(p) for p in probs)] for codes, probs in rows]], np.float32)


def test_box_coder_scores_and_pixels() -> None:
    out = raw([([1.0, -2.0, 5 * np.log(2), 0.0], [0.9]), ([0, 0, 0, 0], [0.1]), ([0, 0, 0, 0], [0.2]),
               ([0, 0, 0, 0], [0.05])])
    dets = decode_ssd_raw(out, HEAD, 300, 200, DecodeParams(conf=0.3))
    assert len(dets) == 1 and dets.class_id.tolist() == [0]
    np.testing.assert_allclose(dets.score, [0.9], rtol=1e-5)
    # centre y 0.5 + 1/10 * 0.2 = 0.52, x 0.5 - 2/10 * 0.1 = 0.48; height 0.2 * e^(ln 2) = 0.4, width 0.1
    np.testing.assert_allclose(dets.xyxy[0], [0.43 * 300, 0.32 * 200, 0.53 * 300, 0.72 * 200], rtol=1e-5)


def test_nms_at_the_heads_iou_clipping_and_classes() -> None:
    # anchors 0 and 1 coincide: the weaker copy goes; anchor 3 is clipped to the image corner
    out = raw([([0, 0, 0, 0], [0.8, 0.1]), ([0, 0, 0, 0], [0.7, 0.6]), ([0, 0, 0, 0], [0.1, 0.1]),
               ([0, 0, 0, 0], [0.1, 0.95])])
    dets = decode_ssd_raw(out, HEAD, 100, 100, DecodeParams(conf=0.5))
    assert dets.score.tolist() == pytest.approx([0.95, 0.8, 0.6], rel=1e-5)  # best first
    assert dets.class_id.tolist() == [1, 0, 1]  # another class does not suppress
    np.testing.assert_allclose(dets.xyxy[0], [90, 90, 100, 100], rtol=1e-5)
    only = decode_ssd_raw(out, HEAD, 100, 100, DecodeParams(conf=0.5, classes=(1,)))
    assert only.class_id.tolist() == [1, 1]
    loose = SsdHead(ANCHORS, HEAD.scale_factors, iou=1.0, max_detections=2)  # nothing overlaps more than 1.0
    assert len(decode_ssd_raw(out, loose, 100, 100, DecodeParams(conf=0.5))) == 2  # the head's maximum
    assert len(decode_ssd_raw(out, HEAD, 100, 100, DecodeParams(conf=0.99))) == 0


def test_head_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "ssd-head.json"
    path.write_text(json.dumps({"anchors": ANCHORS.tolist(), "scale_factors": [10, 10, 5, 5], "iou": 0.6,
                                "max_detections": 100}))
    head = SsdHead.load(path)
    np.testing.assert_array_equal(head.anchors, ANCHORS)
    assert (head.scale_factors, head.iou, head.max_detections) == ((10, 10, 5, 5), 0.6, 100)
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"ssd-head\.json: not an SSD head file"):
        SsdHead.load(path)
    with pytest.raises(ValueError, match="3 boxes, the head file 4 anchors"):
        decode_ssd_raw(raw([([0, 0, 0, 0], [0.9])] * 3), HEAD, 10, 10, DecodeParams())
