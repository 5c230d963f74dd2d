"""Lexicon scorers: VADER for English (PyPI ``vaderSentiment``, MIT: its lexicon ships in the wheel) and the
hand-built Chinese lexicon of :mod:`collector.sentiment.lexicon_zh`. Both give P(positive) in [0, 1]."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from collector.sentiment.features import normalise
from collector.sentiment.lexicon_zh import polarities

VADER_POSITIVE = 0.05  #: VADER's own threshold on the compound score: at or above it is positive


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader(texts: Sequence[str]) -> np.ndarray:
    """(compound + 1) / 2, shifted so that VADER's positive threshold (compound 0.05) lands on 0.5."""
    analyzer = _vader()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)
    shifted = np.where(compound >= VADER_POSITIVE, 0.5 + 0.5 * (compound - VADER_POSITIVE) / (1 - VADER_POSITIVE),
                       0.5 * (compound + 1) / (1 + VADER_POSITIVE))
    return np.clip(shifted, 0.0, 1.0)


def chinese(texts: Sequence[str]) -> np.ndarray:
    """A logistic squash of the summed lexicon weights; a text without lexicon words scores 0.5 (positive)."""
    return np.array([1.0 / (1.0 + math.exp(-sum(polarities(normalise(t))))) for t in texts], dtype=np.float64)


def score(texts: Sequence[str], lang: str) -> np.ndarray:
    return vader(texts) if lang == "en" else chinese(texts)
