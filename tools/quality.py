"""Detector quality against ground-truth boxes: precision and recall at an IoU threshold (one-to-one matching).

Matching is optimal one-to-one assignment on IoU (:func:`edge.vision.detections.matched_ious`); a prediction is a true
positive when its assigned ground-truth box overlaps it by at least ``iou``. ``load_mot_gt`` (from
:mod:`export.mot_dataset`, which builds training sets from the same files) reads MOTChallenge ``gt.txt``
(``frame, id, x, y, w, h, conf, ...``; rows with ``conf == 0`` are ignored, as MOTChallenge does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.vision.detections import Detections, matched_ious
from export.mot_dataset import load_mot_gt

Boxes = npt.NDArray[np.float32]
__all__ = ["Counts", "evaluate", "load_mot_gt", "matched", "matched_ious"]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    frames: int = 0

    @property
    def precision(self) -> float:
        return self.tp / max(self.tp + self.fp, 1)

    @property
    def recall(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    def add(self, pred: Boxes, gt: Boxes, iou: float = 0.5) -> None:
        tp = matched(pred, gt, iou)
        self.tp += tp
        self.fp += len(pred) - tp
        self.fn += len(gt) - tp
        self.frames += 1

    def as_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "tp": self.tp,
                "fp": self.fp, "fn": self.fn, "frames": self.frames}


def matched(pred: Boxes, gt: Boxes, iou: float = 0.5) -> int:
    """Number of predictions matched one-to-one to ground truth with IoU >= ``iou``."""
    return len(matched_ious(pred, gt, iou))


def evaluate(results: Iterable[tuple[int, Detections]], gt: dict[int, Boxes], iou: float = 0.5,
             conf: float = 0.0) -> Counts:
    """Counts over ``(frame number, detections)`` pairs (frames absent from ``gt`` have no people)."""
    counts = Counts()
    empty = np.zeros((0, 4), np.float32)
    for frame, dets in results:
        counts.add(dets.xyxy[dets.score >= conf], gt.get(frame, empty), iou)
    return counts
