"""Class-aware non-maximum suppression, vectorised: one IoU matrix, then greedy suppression solved as a fixed point.

Greedy NMS keeps box ``j`` (in score order) iff no *kept* higher-scoring box of its class overlaps it by more than
``iou``. Starting from "all kept" and re-evaluating that rule for all boxes at once converges to exactly the
greedy result in as many numpy passes as the longest suppression chain (a handful in practice).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.vision.detections import Detections, box_iou

MAX_CANDIDATES = 3000  # highest-scoring boxes considered (bounds the IoU matrix)


def nms_indices(xyxy: npt.NDArray[np.float32], score: npt.NDArray[np.float32], iou: float,
                class_id: npt.NDArray[np.int64] | None = None, max_det: int | None = None) -> npt.NDArray[np.int64]:
    """Indices of the boxes kept, best first. With ``class_id``, boxes of different classes never suppress."""
    order = np.argsort(-score, kind="stable")[:MAX_CANDIDATES]
    if len(order) == 0:
        return order.astype(np.int64)
    overlap = box_iou(xyxy[order], xyxy[order]) > iou
    if class_id is not None:
        cls = class_id[order]
        overlap &= cls[:, None] == cls[None, :]
    overlap = np.triu(overlap, 1)  # overlap[i, j]: i outranks j and overlaps it
    keep = np.ones(len(order), bool)
    while True:
        new_keep = ~np.any(overlap & keep[:, None], axis=0)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    kept = order[keep]
    return (kept[:max_det] if max_det else kept).astype(np.int64)


def nms(detections: Detections, iou: float = 0.45, class_aware: bool = True,
        max_det: int | None = None) -> Detections:
    """Class-aware (by default) NMS of ``detections``; the result is sorted by score, best first."""
    keep = nms_indices(detections.xyxy, detections.score, iou,
                       detections.class_id if class_aware else None, max_det)
    return detections[keep]
