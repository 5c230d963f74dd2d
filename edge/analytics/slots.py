"""The slot map: slot polygons rasterised once on a coarse grid, so a frame's coverage costs a few array ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge.analytics.geometry import inside_polygon

if TYPE_CHECKING:
    from edge.analytics.shelf_config import SlotConfig

GRID = 4  # pixels per raster cell of the slot map


class SlotMap:
    """The slots rasterised on a coarse grid: ``index[y, x]`` = slot number or -1, plus each slot's area."""

    def __init__(self, slots: Sequence[tuple[str, SlotConfig]]) -> None:
        """``slots``: ``(row name, slot)`` in config order (:meth:`ShelfConfig.slots`)."""
        polygons = [np.asarray(s.polygon, np.float64) for _, s in slots]
        extent = np.max([p.max(axis=0) for p in polygons], axis=0)
        self.shape = (int(extent[1] // GRID) + 2, int(extent[0] // GRID) + 2)
        self.index = np.full(self.shape, -1, np.int32)
        self.area = np.zeros(len(slots), np.int64)
        ys, xs = np.mgrid[0 : self.shape[0], 0 : self.shape[1]]
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * GRID
        for i, polygon in enumerate(polygons):
            cells = inside_polygon(centres, polygon).reshape(self.shape)  # a cell belongs where its centre is
            self.area[i] = max(int(cells.sum()), 1)
            clash = self.index[cells]
            clash = clash[clash >= 0]
            if len(clash):
                other = int(np.bincount(clash).argmax())
                shared = int(np.count_nonzero(clash == other))
                smaller = min(self.area[i], self.area[other])
                if shared > 0.02 * smaller:
                    (row_a, a), (row_b, b) = slots[other], slots[i]
                    raise ValueError(
                        f"slots {a.name!r} (row {row_a!r}) and {b.name!r} (row {row_b!r}) overlap "
                        f"({100 * shared / smaller:.0f}% of the smaller one)"
                    )
            self.index[cells & (self.index < 0)] = i

    def coverage(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Fraction of each slot's area covered by the union of ``xyxy`` boxes."""
        covered = np.zeros(self.shape, bool)
        h, w = self.shape
        cells = np.round(np.asarray(xyxy, np.float64) / GRID).astype(np.int64)
        cells[:, 0::2] = np.clip(cells[:, 0::2], 0, w)
        cells[:, 1::2] = np.clip(cells[:, 1::2], 0, h)
        for x0, y0, x1, y1 in cells:
            covered[y0:y1, x0:x1] = True
        hits = self.index[covered & (self.index >= 0)]
        return np.bincount(hits, minlength=len(self.area)) / self.area

    def slot_of(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
        """Slot number of each point (x, y), -1 outside every slot."""
        h, w = self.shape
        cells = np.floor(np.asarray(points, np.float64) / GRID).astype(np.int64)
        inside = (cells[:, 0] >= 0) & (cells[:, 0] < w) & (cells[:, 1] >= 0) & (cells[:, 1] < h)
        out = np.full(len(cells), -1, np.int32)
        out[inside] = self.index[cells[inside, 1], cells[inside, 0]]
        return out
