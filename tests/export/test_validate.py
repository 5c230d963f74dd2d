"""mAP of the accuracy gate: exact cases, and agreement with ultralytics' own ``ap_per_class`` on random boxes."""

from __future__ import annotations

import numpy as np
import pytest

from export.validate import IOUS, match, mean_ap


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 500, (n, 2))
    wh = rng.uniform(20, 120, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_perfect_predictions_score_one() -> None:
    rng = np.random.default_rng(0)
    gt = _boxes(rng, 6)
    cls = np.array([0, 0, 1, 1, 2, 2])
    result = mean_ap([(gt, np.linspace(0.9, 0.4, 6), cls)], [(gt, cls)])
    assert result["mAP50"] == 1.0 and result["mAP50-95"] == 1.0


def test_loose_boxes_pass_iou50_not_iou95() -> None:
    gt = np.array([[100, 100, 200, 200]], np.float32)
    pred = np.array([[110, 100, 210, 200]], np.float32)  # IoU 90/110 = 0.818
    tp = match(pred, np.array([0]), gt, np.array([0]))
    assert tp[0].tolist() == (IOUS <= 0.818).tolist()
    result = mean_ap([(pred, np.array([0.9]), np.array([0]))], [(gt, np.array([0]))])
    assert result["mAP50"] == 1.0 and 0.0 < result["mAP50-95"] < 1.0


def test_wrong_class_and_missing_predictions_score_zero() -> None:
    gt = np.array([[0, 0, 50, 50]], np.float32)
    assert mean_ap([(gt, np.array([0.9]), np.array([1]))], [(gt, np.array([0]))])["mAP50"] == 0.0
    empty = (np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, np.int64))
    assert mean_ap([empty], [(gt, np.array([0]))])["mAP50-95"] == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_ultralytics_ap_per_class(seed: int) -> None:
    from ultralytics.utils.metrics import ap_per_class

    rng = np.random.default_rng(seed)
    results, truths, tps = [], [], []
    for _ in range(8):
        gt = _boxes(rng, 5)
        gt_cls = rng.integers(0, 3, 5)
        noisy = gt + rng.normal(0, 8, gt.shape).astype(np.float32)  # near-misses at every IoU
        pred = np.concatenate([noisy, _boxes(rng, 3)])
        pred_cls = np.concatenate([gt_cls, rng.integers(0, 3, 3)])
        score = rng.uniform(0.05, 1.0, len(pred))
        results.append((pred, score, pred_cls))
        truths.append((gt, gt_cls))
        tps.append(match(pred, pred_cls, gt, gt_cls))
    ours = mean_ap(results, truths)
    theirs = ap_per_class(np.concatenate(tps), np.concatenate([r[1] for r in results]),
                          np.concatenate([r[2] for r in results]), np.concatenate([t[1] for t in truths]))
    ap = theirs[5]  # [classes, 10]
    assert ours["mAP50"] == pytest.approx(ap[:, 0].mean(), abs=0.02)
    assert ours["mAP50-95"] == pytest.approx(ap.mean(), abs=0.02)
    assert 0.05 < ours["mAP50-95"] < 0.95  # a non-trivial case
