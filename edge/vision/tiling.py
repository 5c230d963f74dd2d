"""Tiled inference for small objects: overlapping windows over the frame (plus the whole frame), merged by NMS.

Each window is resized to the model input on its own, so a person 40 px tall in a 768x576 frame is seen at about
twice the size in a 2x2 grid. Boxes from all windows are mapped back to frame pixels; boxes a tile cut at one of
its inner edges are dropped (the whole object comes from a neighbour or the full frame), and the rest are merged
with class-aware NMS.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from edge.vision.detections import Detections
from edge.vision.nms import nms

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


class Tiling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cols: int = Field(default=2, ge=1)
    rows: int = Field(default=2, ge=1)
    overlap: float = Field(default=0.2, ge=0.0, lt=1.0)  # fraction of a tile shared with its neighbour
    full_frame: bool = True  # also run the whole frame (keeps large people whole)
    iou: float = Field(default=0.5, gt=0.0, le=1.0)  # merge threshold


def windows(width: int, height: int, tiling: Tiling) -> list[Window]:
    """The tile windows (and the whole frame first, if ``full_frame``) for a ``width x height`` frame."""
    out: list[Window] = [(0, 0, width, height)] if tiling.full_frame else []
    tile_w = math.ceil(width / (tiling.cols - (tiling.cols - 1) * tiling.overlap))
    tile_h = math.ceil(height / (tiling.rows - (tiling.rows - 1) * tiling.overlap))
    for r in range(tiling.rows):
        for c in range(tiling.cols):
            x0 = 0 if tiling.cols == 1 else round(c * (width - tile_w) / (tiling.cols - 1))
            y0 = 0 if tiling.rows == 1 else round(r * (height - tile_h) / (tiling.rows - 1))
            out.append((x0, y0, min(x0 + tile_w, width), min(y0 + tile_h, height)))
    return list(dict.fromkeys(out))


def merge(parts: list[Detections], tiling: Tiling, max_det: int | None = None) -> Detections:
    """Detections of all windows (already in frame pixels) -> one set, overlaps resolved by class-aware NMS."""
    return nms(Detections.merge(parts), tiling.iou, class_aware=True, max_det=max_det)


def drop_cut(dets: Detections, window: Window, frame_w: int, frame_h: int, margin: float = 2.0) -> Detections:
    """Drop boxes that touch an edge of ``window`` lying inside the frame: the tile cut those objects, and their
    whole box comes from a neighbouring tile or the full-frame pass. The full frame itself is never cut."""
    x0, y0, x1, y1 = window
    b = dets.xyxy
    cut = ((x0 > 0) & (b[:, 0] <= x0 + margin)) | ((y0 > 0) & (b[:, 1] <= y0 + margin))
    cut |= ((x1 < frame_w) & (b[:, 2] >= x1 - margin)) | ((y1 < frame_h) & (b[:, 3] >= y1 - margin))
    return dets[~cut]
