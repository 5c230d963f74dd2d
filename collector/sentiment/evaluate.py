"""Balanced accuracy of a scorer on labelled reviews (the validation split of ``collector.sentiment.datasets``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def balanced_accuracy(labels: Sequence[int] | np.ndarray, p_positive: Sequence[float] | np.ndarray) -> float:
    """Mean of the recall of positives (P >= 0.5) and of negatives; labels 1/0."""
    y = np.asarray(labels)
    pred = np.asarray(p_positive) >= 0.5
    if not (y == 1).any() or not (y == 0).any():
        raise ValueError("balanced accuracy needs both positive and negative labels")
    return float((pred[y == 1].mean() + (~pred[y == 0]).mean()) / 2)
