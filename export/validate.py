"""Detector accuracy on a YOLO-format validation set, the same code for every engine and precision.

Each model file runs through the runtime's own :class:`edge.detector.Detector` (preprocess, engine, decode, NMS), so
the figures describe what a store runs. mAP follows COCO: per class, 101-point interpolated AP, predictions matched
greedily by IoU to same-class ground truth, averaged over IoU 0.50:0.05:0.95 (``mAP50-95``) and at 0.5 (``mAP50``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.vision.detections import box_iou
from export import dataset as datasets

IOUS = np.linspace(0.5, 0.95, 10)


def match(pred_xyxy: np.ndarray, pred_cls: np.ndarray, gt_xyxy: np.ndarray, gt_cls: np.ndarray) -> np.ndarray:
    """``[P, 10]`` true-positive flags of predictions at each IoU threshold (each ground truth matched once)."""
    tp = np.zeros((len(pred_xyxy), len(IOUS)), bool)
    if len(pred_xyxy) == 0 or len(gt_xyxy) == 0:
        return tp
    iou = box_iou(gt_xyxy, pred_xyxy) * (gt_cls[:, None] == pred_cls[None, :])
    for k, threshold in enumerate(IOUS):
        gi, pi = np.nonzero(iou >= threshold)
        if len(gi) == 0:
            continue
        order = np.argsort(-iou[gi, pi], kind="stable")
        gi, pi = gi[order], pi[order]
        _, first = np.unique(pi, return_index=True)
        gi, pi = gi[np.sort(first)], pi[np.sort(first)]
        _, first = np.unique(gi, return_index=True)
        tp[pi[first], k] = True
    return tp


def average_precision(tp: np.ndarray, score: np.ndarray, n_gt: int) -> np.ndarray:
    """101-point interpolated AP at each IoU threshold for one class."""
    if n_gt == 0 or len(tp) == 0:
        return np.zeros(len(IOUS))
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(tp[order], axis=0)
    recall = hits / n_gt
    precision = hits / np.arange(1, len(tp) + 1)[:, None]
    precision = np.maximum.accumulate(precision[::-1], axis=0)[::-1]  # precision envelope
    grid = np.linspace(0, 1, 101)
    ap = np.empty(len(IOUS))
    for k in range(len(IOUS)):
        index = np.searchsorted(recall[:, k], grid, side="left")
        ap[k] = np.where(index < len(tp), precision[np.minimum(index, len(tp) - 1), k], 0.0).mean()
    return ap


def mean_ap(results: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
            truths: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """``{mAP50, mAP50-95, detections}`` over images: results ``(xyxy, score, class)``, truths ``(xyxy, class)``."""
    tps, scores, classes = [], [], []
    for (xyxy, score, cls), (gt_xyxy, gt_cls) in zip(results, truths, strict=True):
        tps.append(match(xyxy, cls, gt_xyxy, gt_cls))
        scores.append(score)
        classes.append(cls)
    tp, score, cls = np.concatenate(tps), np.concatenate(scores), np.concatenate(classes)
    gt_cls = np.concatenate([c for _, c in truths])
    present = np.unique(gt_cls)
    if len(present) == 0:
        return {"mAP50": 0.0, "mAP50-95": 0.0, "detections": float(len(tp))}
    ap = np.stack([average_precision(tp[cls == c], score[cls == c], int((gt_cls == c).sum())) for c in present])
    return {"mAP50": round(float(ap[:, 0].mean()), 4), "mAP50-95": round(float(ap.mean()), 4),
            "detections": float(len(tp))}


def validate(model: str | Path, engine: str, precision: str, data: str | Path, conf: float = 0.001,
             iou: float = 0.6, limit: int | None = None) -> dict[str, float]:
    """mAP of one file of a manifest (``models/<name>`` or a folder) on the ``val`` split of dataset ``data``."""
    from edge.detector import Detector

    ds = datasets.load(data)
    detector = Detector.from_manifest(str(model), engine=engine, precision=precision, conf=conf, iou=iou,
                                      inference_precision="f32" if engine == "openvino" else None)
    results, truths = [], []
    for path in ds.val[:limit]:
        image = cv2.imread(str(path))
        if image is None:
            continue
        dets = detector(image)
        results.append((dets.xyxy, dets.score, dets.class_id))
        truths.append(datasets.labels(path, image.shape[1], image.shape[0]))
    return mean_ap(results, truths)
