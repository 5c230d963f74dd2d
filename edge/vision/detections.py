"""``Detections``: the one representation of boxes that flows from decoders through trackers and zones.

All fields are numpy arrays of equal length ``n``; optional fields are ``None`` until a stage fills them.
Boxes are ``xyxy`` in pixels of the original frame (float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Detections:
    xyxy: FloatArray  # (n, 4) float32
    score: FloatArray  # (n,) float32
    class_id: IntArray  # (n,) int64
    track_id: IntArray | None = None  # (n,) int64, filled by the tracker
    embedding: FloatArray | None = None  # (n, d) float32, L2-normalised, filled by the embedder

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape (n, 4), got {self.xyxy.shape}")
        for name in ("score", "class_id", "track_id", "embedding"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} rows, xyxy has {n}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
        )

    @classmethod
    def from_arrays(
        cls, xyxy: npt.ArrayLike, score: npt.ArrayLike, class_id: npt.ArrayLike | None = None
    ) -> Detections:
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        scores = np.asarray(score, np.float32).reshape(-1)
        classes = (
            np.zeros(len(boxes), np.int64)
            if class_id is None
            else np.asarray(class_id, np.int64).reshape(-1)
        )
        return cls(boxes, scores, classes)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: npt.ArrayLike | slice) -> Detections:
        """Select rows by boolean mask, integer indices or slice."""
        idx = index if isinstance(index, slice) else np.asarray(index)
        return Detections(
            xyxy=self.xyxy[idx],
            score=self.score[idx],
            class_id=self.class_id[idx],
            track_id=None if self.track_id is None else self.track_id[idx],
            embedding=None if self.embedding is None else self.embedding[idx],
        )

    def with_track_ids(self, track_id: npt.ArrayLike) -> Detections:
        return replace(self, track_id=np.asarray(track_id, np.int64).reshape(-1))

    def with_embeddings(self, embedding: npt.ArrayLike) -> Detections:
        return replace(self, embedding=np.asarray(embedding, np.float32).reshape(len(self), -1))

    @property
    def area(self) -> FloatArray:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def anchors(self, where: str = "bottom_center") -> FloatArray:
        """Anchor point per box: ``bottom_center`` (feet, default for counting) or ``center``."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5
        if where == "center":
            y = (self.xyxy[:, 1] + self.xyxy[:, 3]) * 0.5
        elif where == "bottom_center":
            y = self.xyxy[:, 3]
        else:
            raise ValueError(f"unknown anchor {where!r}: use 'bottom_center' or 'center'")
        return np.stack([x, y], axis=1).astype(np.float32)

    @staticmethod
    def merge(parts: Sequence[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        has_track = all(p.track_id is not None for p in parts)
        has_emb = all(p.embedding is not None for p in parts)
        return Detections(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            score=np.concatenate([p.score for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            track_id=np.concatenate([p.track_id for p in parts]) if has_track else None,
            embedding=np.concatenate([p.embedding for p in parts]) if has_emb else None,
        )


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of boxes ``a`` (n, 4) and ``b`` (m, 4) in xyxy: returns (n, m). The one IoU in the codebase."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def matched_ious(a: FloatArray, b: FloatArray, iou: float = 0.5) -> FloatArray:
    """IoUs of the one-to-one matches of boxes ``a`` to boxes ``b`` (optimal assignment on IoU) that reach ``iou``:
    its length is how many boxes of each side the other side finds."""
    from scipy.optimize import linear_sum_assignment

    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.float32)
    overlap = box_iou(a, b)
    rows, cols = linear_sum_assignment(-np.where(overlap >= iou, overlap, 0.0))
    pairs = overlap[rows, cols]
    return pairs[pairs >= iou]
