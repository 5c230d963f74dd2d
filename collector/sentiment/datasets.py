"""Labelled review sets for fitting and evaluation, and the deterministic validation split.

Two layouts are read: the English clothing reviews (``Title``, ``Review Text``, ``Rating``: positive = 4-5,
negative = 1-2, 3 dropped) and the Chinese online-shopping reviews (``review``, ``label`` 1/0); anything else must
have ``text`` and ``label`` (``positive``/``negative`` or 1/0). ``row`` is the 0-based data row in the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from collector.sentiment.csvio import SentimentInputError, read_csv

VALIDATION_SHARE = 5  #: one row in five (by a hash of dataset name and row) is validation, never trained on


@dataclass
class Labelled:
    """``text`` (review text), ``title`` ('' when none), ``label`` (1 positive, 0 negative), ``row`` (file row),
    ``domain`` (the product category where the file has one, e.g. the Chinese set's ``cat``; else '')."""

    name: str
    text: np.ndarray
    title: np.ndarray
    label: np.ndarray
    row: np.ndarray
    domain: np.ndarray

    def take(self, mask: np.ndarray) -> Labelled:
        return Labelled(self.name, self.text[mask], self.title[mask], self.label[mask], self.row[mask],
                        self.domain[mask])


def is_validation(name: str, rows: np.ndarray) -> np.ndarray:
    """The validation rows of dataset ``name``: sha256(``name:row``) mod 5 == 0 (stable across machines)."""
    return np.array([int.from_bytes(hashlib.sha256(f"{name}:{r}".encode()).digest()[:8], "big") % VALIDATION_SHARE == 0
                     for r in rows], dtype=bool)


def _labels(values: pd.Series, path: Path) -> pd.Series:
    text = values.str.strip().str.lower()
    mapped = text.map({"1": 1, "positive": 1, "pos": 1, "0": 0, "negative": 0, "neg": 0})
    bad = values[mapped.isna()]
    if len(bad):
        raise SentimentInputError(f"{path}: column label: value {bad.iloc[0]!r} is not positive/negative or 1/0")
    return mapped.astype(int)


def load_labelled(path: str | Path) -> Labelled:
    """The labelled rows of a review CSV (rows without text are skipped; their row numbers are kept)."""
    path = Path(path)
    df = read_csv(path)
    df["_row"] = np.arange(len(df))
    if {"Review Text", "Rating"} <= set(df.columns):
        df = df[df["Rating"].str.strip().isin(["1", "2", "4", "5"])]
        text, title = df["Review Text"], df["Title"] if "Title" in df.columns else pd.Series("", index=df.index)
        label = (df["Rating"].astype(int) >= 4).astype(int)
    elif {"review", "label"} <= set(df.columns):
        text, title, label = df["review"], pd.Series("", index=df.index), _labels(df["label"], path)
    elif {"text", "label"} <= set(df.columns):
        text, title, label = df["text"], pd.Series("", index=df.index), _labels(df["label"], path)
    else:
        raise SentimentInputError(f"{path}: expected columns text,label (or Review Text,Rating or review,label), "
                         f"found {','.join(map(str, df.columns))}")
    domain = df["cat"] if "cat" in df.columns else pd.Series("", index=df.index)
    keep = text.str.strip() != ""
    return Labelled(path.stem, text[keep].to_numpy(dtype=str), title[keep].to_numpy(dtype=str),
                    label[keep].to_numpy(dtype=np.int64), df["_row"][keep].to_numpy(), domain[keep].to_numpy(dtype=str))
