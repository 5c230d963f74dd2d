"""Basket recommender: context-aware EASE, co-occurrence, ALS/SVD comparisons, substitutes."""

from pathlib import Path

#: where ``smartstore recommend fit`` writes and the collector looks by default (``recommender.model``); relative to
#: the working directory, like ``store: collector.db`` (the systemd unit runs in the collector's state directory)
DEFAULT_MODEL = Path("recommender.npz")
