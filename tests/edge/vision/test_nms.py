"""Vectorised NMS equals textbook greedy NMS, and is class-aware."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.vision.detections import Detections, box_iou
from edge.vision.nms import nms, nms_indices


def greedy_reference(xyxy: np.ndarray, score: np.ndarray, cls: np.ndarray, iou: float) -> list[int]:
    """The textbook per-box loop, as the oracle."""
    order = list(np.argsort(-score, kind="stable"))
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        order = [j for j in order if cls[j] != cls[best] or box_iou(xyxy[best], xyxy[j])[0, 0] <= iou]
    return keep


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 60), classes=st.integers(1, 3),
       iou=st.sampled_from([0.3, 0.45, 0.7]))
def test_matches_greedy_reference(seed: int, n: int, classes: int, iou: float) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    xyxy = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    score = rng.uniform(0, 1, n).astype(np.float32)
    cls = rng.integers(0, classes, n).astype(np.int64)
    assert nms_indices(xyxy, score, iou, cls).tolist() == greedy_reference(xyxy, score, cls, iou)


def test_class_aware_and_agnostic() -> None:
    dets = Detections.from_arrays([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], [0.9, 0.8, 0.7], [0, 0, 1])
    kept = nms(dets, iou=0.5)
    assert kept.score.tolist() == [np.float32(0.9), np.float32(0.7)] and kept.class_id.tolist() == [0, 1]
    assert len(nms(dets, iou=0.5, class_aware=False)) == 1
    assert len(nms(Detections.empty())) == 0


def test_chain_suppression_is_greedy() -> None:
    """A suppresses B; B would suppress C, but B is gone, so C stays (a one-pass 'fast NMS' would drop C)."""
    xyxy = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10]], np.float32)
    score = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms_indices(xyxy, score, 0.2).tolist() == [0, 2]
