"""The learned sentiment model: TF-IDF blocks (one per analyzer, each L2-normalised) and linear weights (P is the
logistic of their sum), stored as one ``.npz`` without pickle (vocabulary as UTF-8 lines, idf and coefficients as
float32).

Scoring needs only numpy: terms come from :mod:`collector.sentiment.features`, the same functions the fit used.
"""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from collector.sentiment.features import ANALYZERS
from errors import SmartstoreError

FORMAT = "smartstore-sentiment-1"
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


class SentimentModelError(SmartstoreError):
    """A sentiment model file that is missing or not a model."""


@dataclass
class Block:
    """One analyzer's vocabulary (term to column), idf and linear weights (the fitted blend's)."""

    analyzer: str
    vocab: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray

    def terms(self) -> list[str]:
        return sorted(self.vocab, key=self.vocab.__getitem__)

    def tfidf(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The L2-normalised sublinear TF-IDF rows of ``texts``, sparse: (row, column, value) arrays."""
        analyze, vocab = ANALYZERS[self.analyzer], self.vocab
        cols: list[int] = []
        tfs: list[int] = []
        starts = np.zeros(len(texts) + 1, dtype=np.int64)
        for row, text in enumerate(texts):
            counts = Counter(j for j in map(vocab.get, analyze(text)) if j is not None)
            cols.extend(counts)
            tfs.extend(counts.values())
            starts[row + 1] = len(cols)
        idx = np.asarray(cols, dtype=np.int64)
        w = (1.0 + np.log(np.asarray(tfs, dtype=np.float64))) * self.idf[idx]
        rows = np.repeat(np.arange(len(texts)), np.diff(starts))
        norm = np.sqrt(np.bincount(rows, w * w, minlength=len(texts)))
        return rows, idx, w / norm[rows] if len(w) else w


@dataclass
class Domains:
    """Per-domain weights (e.g. the product category: hotel, fruit, books): a linear classifier picks each text's
    domain from its first block's TF-IDF (columns ``cols`` only), whose weights over that block are then added."""

    names: list[str]
    cols: np.ndarray  # (m,) block columns the classifier reads
    classifier: np.ndarray  # (domains, m)
    bias: np.ndarray  # (domains,)
    weights: np.ndarray  # (domains, block size)

    def logits(self, rows: np.ndarray, idx: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(domain index, added logit) per text."""
        at = np.full(self.weights.shape[1], -1, dtype=np.int64)
        at[self.cols] = np.arange(self.cols.size)
        keep = at[idx] >= 0
        scores = np.tile(self.bias, (n, 1))
        np.add.at(scores, rows[keep], w[keep, None] * self.classifier[:, at[idx[keep]]].T)
        domain = np.argmax(scores, axis=1)
        return domain, np.bincount(rows, w * self.weights[domain[rows], idx], minlength=n)


@dataclass
class SentimentModel:
    lang: str
    blocks: list[Block]
    intercept: float
    meta: dict[str, str]
    domains: Domains | None = None

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive) per text."""
        z = np.full(len(texts), self.intercept)
        for i, block in enumerate(self.blocks):
            rows, idx, w = block.tfidf(texts)
            z += np.bincount(rows, w * block.coef[idx], minlength=len(texts))
            if i == 0 and self.domains is not None:
                z += self.domains.logits(rows, idx, w, len(texts))[1]
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"format": np.array(FORMAT), "lang": np.array(self.lang),
                                         "intercept": np.array(self.intercept),
                                         "analyzers": np.array(",".join(b.analyzer for b in self.blocks)),
                                         "meta_keys": np.array(list(self.meta), dtype=str),
                                         "meta_values": np.array(list(self.meta.values()), dtype=str)}
        for i, b in enumerate(self.blocks):
            arrays[f"vocab{i}"] = np.frombuffer("\n".join(b.terms()).encode(), dtype=np.uint8)
            arrays[f"idf{i}"] = b.idf.astype(np.float32)
            arrays[f"coef{i}"] = b.coef.astype(np.float32)
        if self.domains is not None:  # float16; most per-domain weights are 0 (terms a domain never has): they pack
            d = self.domains
            arrays.update({"domain_names": np.array(d.names, dtype=str), "domain_cols": d.cols.astype(np.int32),
                           "domain_classifier": d.classifier.astype(np.float16),
                           "domain_bias": d.bias.astype(np.float32), "domain_weights": d.weights.astype(np.float16)})
        with path.open("wb") as fh:  # np.savez would append .npz to a name without it
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SentimentModel:
        path = Path(path)
        if not path.is_file():
            raise SentimentModelError(f"{path}: no such sentiment model (make one with: smartstore sentiment fit)")
        try:
            z = np.load(path, allow_pickle=False)
            if str(z["format"]) != FORMAT:
                raise SentimentModelError(f"{path}: format {str(z['format'])!r}, expected {FORMAT!r}")
            blocks = []
            for i, name in enumerate(str(z["analyzers"]).split(",")):
                if name not in ANALYZERS:
                    raise SentimentModelError(f"{path}: unknown analyzer {name!r}")
                terms = z[f"vocab{i}"].tobytes().decode().split("\n")
                blocks.append(Block(name, {t: j for j, t in enumerate(terms)}, z[f"idf{i}"].astype(np.float64),
                                    z[f"coef{i}"].astype(np.float64)))
            meta = {str(k): str(v) for k, v in zip(z["meta_keys"], z["meta_values"], strict=True)}
            domains = None
            if "domain_names" in z.files:
                domains = Domains([str(n) for n in z["domain_names"]], z["domain_cols"].astype(np.int64),
                                  z["domain_classifier"].astype(np.float64), z["domain_bias"].astype(np.float64),
                                  z["domain_weights"].astype(np.float64))
            return cls(str(z["lang"]), blocks, float(z["intercept"]), meta, domains)
        except UNREADABLE as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SentimentModelError(f"{path}: not a smartstore sentiment model ({reason})") from exc
