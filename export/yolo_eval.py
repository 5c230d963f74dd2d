"""Score a detector on YOLO-labelled images through the runtime :class:`edge.detector.Detector` (the path of
``smartstore detect --model``): AP at IoU 0.5 per class, and recall/precision at a score threshold.

A set is ``root/images/<split>/*.jpg`` with ``root/labels/<split>/<stem>.txt`` (``class cx cy w h``, normalised).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.vision.detections import box_iou


@dataclass
class Scored:
    """Every detection (boxes xyxy, scores) and every labelled box per class and image of one set."""

    labels: list[str]
    pred: dict[int, list[tuple[np.ndarray, np.ndarray]]]
    truth: dict[int, list[np.ndarray]]


def yolo_labels(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes and pixel boxes (xyxy) of a YOLO label file; a missing or empty file has none."""
    rows = np.loadtxt(path, ndmin=2).reshape(-1, 5) if path.is_file() and path.stat().st_size else np.zeros((0, 5))
    boxes = np.stack([rows[:, 1] - rows[:, 3] / 2, rows[:, 2] - rows[:, 4] / 2,
                      rows[:, 1] + rows[:, 3] / 2, rows[:, 2] + rows[:, 4] / 2], axis=1)
    boxes *= [width, height, width, height]
    return rows[:, 0].astype(int), boxes.astype(np.float32)


def _matches(boxes: np.ndarray, conf: np.ndarray, gt: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching by descending score: the sorted scores and whether each detection is a hit."""
    order = np.argsort(-conf)
    boxes, conf = boxes[order], conf[order]
    taken = np.zeros(len(gt), bool)
    overlap = box_iou(boxes, gt) if len(gt) and len(boxes) else np.zeros((len(boxes), len(gt)))
    hits = np.zeros(len(boxes), bool)
    for i in range(len(boxes)):
        if not len(gt):
            break
        candidates = np.where(taken, -1.0, overlap[i])
        j = int(candidates.argmax())
        if candidates[j] >= iou:
            taken[j] = hits[i] = True
    return conf, hits


def average_precision(pred: list[tuple[np.ndarray, np.ndarray]], truth: list[np.ndarray], iou: float = 0.5) -> float:
    """AP at ``iou``: ``pred`` (boxes xyxy, scores) and ``truth`` boxes per image; all-point interpolation."""
    matched = [_matches(boxes, conf, gt, iou) for (boxes, conf), gt in zip(pred, truth, strict=True)]
    n_truth = sum(len(t) for t in truth)
    if n_truth == 0:
        return float("nan")
    scores = np.concatenate([m[0] for m in matched]) if matched else np.zeros(0)
    hits = np.concatenate([m[1] for m in matched]) if matched else np.zeros(0, bool)
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order].astype(float))
    recall = tp / n_truth
    precision = tp / np.arange(1, len(tp) + 1)
    envelope = np.maximum.accumulate(np.concatenate([precision, [0.0]])[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * envelope[:-1]))


def recall_precision(pred: list[tuple[np.ndarray, np.ndarray]], truth: list[np.ndarray], conf: float,
                     iou: float = 0.5) -> tuple[float, float]:
    """Recall and precision of the detections scoring at least ``conf`` (one-to-one matches at ``iou``)."""
    kept = [(boxes[scores >= conf], scores[scores >= conf]) for boxes, scores in pred]
    matched = [_matches(b, s, gt, iou)[1] for (b, s), gt in zip(kept, truth, strict=True)]
    hits = np.concatenate([np.zeros(0, bool), *matched])
    n_truth = sum(len(t) for t in truth)
    return (float(hits.sum() / n_truth) if n_truth else float("nan"),
            float(hits.sum() / len(hits)) if len(hits) else float("nan"))


def best_threshold(pred: list[tuple[np.ndarray, np.ndarray]], truth: list[np.ndarray],
                   grid: tuple[float, ...] = tuple(np.round(np.arange(0.05, 0.9, 0.05), 2))) -> float:
    """The score threshold of ``grid`` with the highest F1 (tune it on a split you do not report)."""
    def f1(conf: float) -> float:
        recall, precision = recall_precision(pred, truth, conf)
        if not recall or not precision or np.isnan(precision):
            return 0.0
        return 2 * recall * precision / (recall + precision)
    return max(grid, key=f1)


def score(model: str | Path, root: Path, split: str, engine: str = "auto", precision: str | None = None,
          threads: int | None = None) -> Scored:
    """Run ``model`` (score >= 0.001, NMS IoU 0.6) on every image of ``root/images/<split>``."""
    import cv2

    from edge.detector import Detector

    options: dict[str, Any] = {"threads": threads} if threads else {}
    detector = Detector.from_manifest(str(model), engine, precision, conf=0.001, iou=0.6, **options)
    classes = range(len(detector.labels))
    result = Scored(detector.labels, {c: [] for c in classes}, {c: [] for c in classes})
    images = sorted((root / "images" / split).glob("*.jpg"))
    if not images:
        raise FileNotFoundError(f"no images under {root / 'images' / split}")
    for path in images:
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f"cannot read {path}")
        label_class, boxes = yolo_labels(root / "labels" / split / f"{path.stem}.txt", image.shape[1], image.shape[0])
        found = detector(image)
        for c in classes:
            result.pred[c].append((found.xyxy[found.class_id == c], found.score[found.class_id == c]))
            result.truth[c].append(boxes[label_class == c])
    return result


def evaluate(model: str | Path, scenes: Path, engine: str = "openvino", precision: str = "int8",
             split: str = "val") -> dict[str, float]:
    """mAP50 per class (``mAP50_<label>``) and their mean (``mAP50``) of a detector on one labelled split."""
    scored = score(model, scenes, split, engine, precision)
    result = {f"mAP50_{scored.labels[c]}": round(average_precision(scored.pred[c], scored.truth[c]), 4)
              for c in scored.pred}
    result["mAP50"] = round(float(np.mean(list(result.values()))), 4)
    return result
