"""Score review texts: language per text (share of CJK characters) unless given, then the learned model of that
language (the shipped ``models/sentiment/<lang>.npz`` unless told otherwise) or the lexicon scorer."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from collector.sentiment import lexicon
from collector.sentiment.features import LANGS, detect_lang
from collector.sentiment.model import SentimentModel

METHODS = ("learned", "lexicon")


def models_dir() -> Path:
    """``$SMARTSTORE_MODELS/sentiment`` or the repository's ``models/sentiment``."""
    env = os.environ.get("SMARTSTORE_MODELS")
    return (Path(env) if env else Path(__file__).resolve().parents[2] / "models") / "sentiment"


@cache
def shipped_model(lang: str, folder: Path | None = None) -> SentimentModel:
    return SentimentModel.load((folder or models_dir()) / f"{lang}.npz")


@dataclass(frozen=True)
class Scores:
    lang: list[str]
    p: np.ndarray  # P(positive)

    @property
    def labels(self) -> list[str]:
        return ["positive" if v >= 0.5 else "negative" for v in self.p]


def score(texts: Sequence[str], lang: str | None = None, method: str = "learned",
          models: Path | None = None) -> Scores:
    """P(positive) per text; ``lang``: ``en``/``zh`` for all (None: detected per text); ``models``: a folder with
    ``en.npz``/``zh.npz`` (None: the shipped ones)."""
    langs = [lang or detect_lang(t) for t in texts]
    p = np.zeros(len(texts))
    for code in LANGS:
        idx = [i for i, lc in enumerate(langs) if lc == code]
        if not idx:
            continue
        part = [texts[i] for i in idx]
        p[idx] = shipped_model(code, models).predict(part) if method == "learned" else lexicon.score(part, code)
    return Scores(langs, p)
