"""Per-track state kept by counters: numpy columns keyed by track id, looked up for a whole frame at once."""

from __future__ import annotations

import numpy as np


class TrackTable:
    """Rows of per-track columns, sorted by ``ids``; ``rows(ids)`` adds unseen ids with the column defaults."""

    def __init__(self, **columns: tuple[np.dtype | type, float | bool, tuple[int, ...]]) -> None:
        self._spec = columns
        self.ids = np.zeros(0, np.int64)
        self.cols: dict[str, np.ndarray] = {
            name: np.full((0, *shape), default, dtype) for name, (dtype, default, shape) in columns.items()
        }

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row index of each id (adding new ones) and a mask of which ids were new."""
        ids = np.asarray(ids, np.int64)
        pos = np.searchsorted(self.ids, ids)
        known = (
            (pos < len(self.ids)) & (self.ids[np.minimum(pos, len(self.ids) - 1)] == ids)
            if len(self.ids)
            else (np.zeros(len(ids), bool))
        )
        if not known.all():
            fresh = np.unique(ids[~known])
            self.ids = np.concatenate([self.ids, fresh])
            order = np.argsort(self.ids, kind="stable")
            self.ids = self.ids[order]
            for name, (dtype, default, shape) in self._spec.items():
                grown = np.concatenate([self.cols[name], np.full((len(fresh), *shape), default, dtype)])
                self.cols[name] = grown[order]
        return np.searchsorted(self.ids, ids), ~known

    def keep(self, mask: np.ndarray) -> None:
        self.ids = self.ids[mask]
        self.cols = {name: col[mask] for name, col in self.cols.items()}
