"""Hand-made trajectories: tracked people as ``Detections`` whose anchor (bottom centre) is a given point."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.vision.detections import Detections


def people(
    points: Sequence[tuple[float, float]], ids: Sequence[int], size: tuple[float, float] = (20, 60)
) -> Detections:
    """Tracked detections with feet (bottom centre) at ``points``."""
    w, h = size
    xy = np.asarray(points, np.float32).reshape(-1, 2)
    boxes = np.stack([xy[:, 0] - w / 2, xy[:, 1] - h, xy[:, 0] + w / 2, xy[:, 1]], axis=1)
    return Detections.from_arrays(boxes, np.ones(len(xy))).with_track_ids(ids)


def walk(start: tuple[float, float], end: tuple[float, float], steps: int) -> list[tuple[float, float]]:
    """Evenly spaced points from ``start`` to ``end`` inclusive."""
    t = np.linspace(0.0, 1.0, steps)
    return [(float(start[0] + (end[0] - start[0]) * k), float(start[1] + (end[1] - start[1]) * k)) for k in t]
