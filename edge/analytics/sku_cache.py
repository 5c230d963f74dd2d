"""The SKU cache: a shelf is mostly static, so a product box that barely moved and looks the same keeps its SKU."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.detections import box_iou


class SkuCache:
    """Recognised products of recent frames: a box that barely moved and looks the same keeps its SKU.

    A hit needs IoU >= ``iou`` with a cached box and a mean absolute difference of their 8x8 grey thumbnails
    below ``max_diff`` (so a product swapped in place is embedded again). Entries unseen for ``ttl`` frames go.
    """

    def __init__(self, iou: float = 0.9, max_diff: float = 12.0, ttl: int = 10) -> None:
        self.iou, self.max_diff, self.ttl = iou, max_diff, ttl
        self.boxes = np.zeros((0, 4), np.float32)
        self.thumbs = np.zeros((0, 64), np.float32)
        self.skus: list[str] = []
        self.scores = np.zeros(0, np.float32)
        self.age = np.zeros(0, np.int64)

    @staticmethod
    def thumbnails(gray: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        h, w = gray.shape[:2]
        out = np.zeros((len(xyxy), 64), np.float32)
        for i, (x0, y0, x1, y1) in enumerate(np.round(xyxy).astype(np.int64)):
            crop = gray[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
            if crop.size:
                out[i] = cv2.resize(crop, (8, 8), interpolation=cv2.INTER_AREA).reshape(-1)
        return out

    def lookup(self, xyxy: npt.NDArray[np.float32], thumbs: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Index of the cached entry each box reuses, -1 for a miss."""
        if not len(self.boxes) or not len(xyxy):
            return np.full(len(xyxy), -1, np.int64)
        iou = box_iou(xyxy, self.boxes)
        best = iou.argmax(axis=1)
        diff = np.abs(thumbs - self.thumbs[best]).mean(axis=1)
        hit = (iou[np.arange(len(xyxy)), best] >= self.iou) & (diff < self.max_diff)
        return np.where(hit, best, -1)

    def store(
        self,
        xyxy: npt.NDArray[np.float32],
        thumbs: npt.NDArray[np.float32],
        skus: list[str],
        scores: npt.NDArray[np.float32],
        reused: npt.NDArray[np.int64],
    ) -> None:
        """Replace the cache with this frame's products plus older entries not seen again (aged)."""
        stale = np.setdiff1d(np.arange(len(self.boxes)), reused[reused >= 0])
        stale = stale[self.age[stale] + 1 < self.ttl]
        self.boxes = np.concatenate([xyxy, self.boxes[stale]]).astype(np.float32)
        self.thumbs = np.concatenate([thumbs, self.thumbs[stale]]).astype(np.float32)
        self.skus = list(skus) + [self.skus[i] for i in stale]
        self.scores = np.concatenate([scores, self.scores[stale]]).astype(np.float32)
        self.age = np.concatenate([np.zeros(len(xyxy), np.int64), self.age[stale] + 1])
