"""The shipped recommender: context-aware EASE for baskets, popularity for cold start, co-purchase profile and
optional SKU image embeddings for substitutes. Saved as one ``.npz`` file (no pickle).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from collector.recommend.data import BasketInputError, Baskets
from collector.recommend.models import ContextEASE

FORMAT = "smartstore-recommender-1"
#: what numpy raises on a file that is not a (complete) .npz: empty, truncated, another format
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def _normalise_rows(m: np.ndarray) -> np.ndarray:
    return m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-12)


def load_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """SKU embeddings from an ``.npz``: arrays ``skus`` + ``embeddings`` (rows), or one array per SKU name."""
    path = Path(path)
    if not path.is_file():
        raise BasketInputError(f"{path}: no such embeddings file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BasketInputError(f"{path}: not an .npz file of SKU embeddings ({exc})") from exc
    if "skus" in z.files and "embeddings" in z.files:
        skus, emb = z["skus"].astype(str), np.asarray(z["embeddings"], dtype=np.float64)
        if emb.ndim != 2 or emb.shape[0] != skus.size:
            raise BasketInputError(f"{path}: embeddings shape {emb.shape} does not match {skus.size} skus")
        return dict(zip(skus, emb, strict=True))
    out = {k: np.asarray(z[k], dtype=np.float64).ravel() for k in z.files}
    if not out or len({v.size for v in out.values()}) != 1:
        raise BasketInputError(f"{path}: expected skus+embeddings arrays or one equal-length vector per SKU")
    return out


@dataclass
class Recommender:
    items: np.ndarray  # (n,) item names
    weights: np.ndarray  # (n + context, n) ContextEASE weights
    context_mean: np.ndarray  # (context,) average context row (used when a query has no timestamp)
    popularity: np.ndarray  # (n,) basket counts
    profile: np.ndarray  # (n, n) row-normalised co-purchase profiles (for substitutes)
    embeddings: np.ndarray | None = None  # (n, d) row-normalised, zero rows where a SKU has none
    lam: float = 50.0
    context_weight: float = 1.0

    # --- fitting and files ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, baskets: Baskets, lam: float = 50.0, context_weight: float = 1.0,
            embeddings: dict[str, np.ndarray] | None = None) -> Recommender:
        if baskets.n == 0:
            raise BasketInputError("no baskets to fit")
        model = ContextEASE(lam=lam, context_weight=context_weight).fit(baskets)
        ctx = model.context(baskets)
        c = np.asarray((baskets.matrix.T @ baskets.matrix).toarray(), dtype=np.float64)
        pop = np.diag(c).copy()
        np.fill_diagonal(c, 0.0)
        emb = None
        if embeddings:
            dim = len(next(iter(embeddings.values())))
            emb = np.zeros((baskets.items.size, dim))
            for i, name in enumerate(baskets.items):
                if name in embeddings:
                    emb[i] = embeddings[name]
            emb = _normalise_rows(emb)
        return cls(baskets.items, model.b, np.asarray(ctx.mean(axis=0)).ravel(), pop,
                   _normalise_rows(c / (np.sqrt(pop)[None, :] + 1e-9)), emb, lam, context_weight)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"format": np.array(FORMAT), "items": self.items.astype(str), "weights": self.weights,
                  "context_mean": self.context_mean, "popularity": self.popularity, "profile": self.profile,
                  "params": np.array([self.lam, self.context_weight])}
        if self.embeddings is not None:
            arrays["embeddings"] = self.embeddings
        with path.open("wb") as fh:  # np.savez would append .npz to a name without it
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        path = Path(path)
        if not path.is_file():
            raise BasketInputError(f"{path}: no such model file (make one with: smartstore recommend fit)")
        try:
            z = np.load(path, allow_pickle=False)
            if str(z["format"]) != FORMAT:
                raise BasketInputError(f"{path}: model format {str(z['format'])!r}, expected {FORMAT!r}")
            lam, cw = (float(v) for v in z["params"])
            emb = z["embeddings"] if "embeddings" in z.files else None
            return cls(z["items"].astype(str), z["weights"], z["context_mean"], z["popularity"], z["profile"], emb,
                       lam, cw)
        except UNREADABLE as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BasketInputError(f"{path}: not a smartstore recommender model ({reason})") from exc

    # --- queries -------------------------------------------------------------------------------------------
    def _context(self, ts: pd.DatetimeIndex | None, n: int) -> np.ndarray:
        if ts is None:
            return np.broadcast_to(self.context_mean, (n, self.context_mean.size))
        probe = Baskets(self.items, sp.csr_matrix((n, self.items.size)), np.arange(n),
                        ts.hour.to_numpy(), ts.dayofweek.to_numpy())
        return ContextEASE(context_weight=self.context_weight).context(probe).toarray()

    def scores(self, matrix: sp.csr_matrix, ts: pd.DatetimeIndex | None = None) -> np.ndarray:
        """Scores (baskets, items) for binary basket rows over ``self.items``; ``ts``: basket times if known."""
        ctx = self._context(ts, matrix.shape[0])
        n = self.items.size
        return np.asarray(matrix @ self.weights[:n]) + ctx @ self.weights[n:] + self.popularity * 1e-9

    def recommend(self, baskets: Baskets, k: int = 10) -> list[list[tuple[str, float]]]:
        """Top ``k`` items for each basket, never items already in it (frequently bought together)."""
        ts = None
        if baskets.hour is not None and baskets.weekday is not None:
            # any date with the right weekday carries the context: 2024-01-01 is a Monday
            ts = pd.DatetimeIndex(pd.Timestamp("2024-01-01") + pd.to_timedelta(baskets.weekday, unit="D")
                                  + pd.to_timedelta(baskets.hour, unit="h"))
        s = self.scores(baskets.matrix, ts)
        q = baskets.matrix.tocoo()
        s[q.row, q.col] = -np.inf
        k = min(k, self.items.size)
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return [[(str(self.items[j]), float(s[r, j])) for j in row if np.isfinite(s[r, j])]
                for r, row in enumerate(top)]

    def basket(self, items: list[str], k: int = 10, at: pd.Timestamp | None = None) -> dict[str, object]:
        """Recommendations for one basket given as item names; unknown names are reported, not fatal."""
        index = {name: j for j, name in enumerate(self.items)}
        known = list(dict.fromkeys(i for i in items if i in index))
        unknown = [i for i in items if i not in index]
        cols = np.array([index[i] for i in known], dtype=np.int64)
        row = sp.csr_matrix((np.ones(cols.size), (np.zeros(cols.size, dtype=np.int64), cols)),
                            shape=(1, self.items.size))
        b = Baskets(self.items, row, np.array(["q"]))
        if at is not None:
            b.hour, b.weekday = np.array([at.hour]), np.array([at.dayofweek])
        recs = self.recommend(b, k)[0]
        return {"basket": known, "unknown": unknown, "recommendations": [{"item": i, "score": s} for i, s in recs]}

    def substitutes(self, sku: str, k: int = 10, embedding_weight: float = 0.5,
                    weights: Mapping[str, float] | None = None) -> list[tuple[str, float]]:
        """Items bought in the same kinds of baskets as ``sku`` (cosine of co-purchase profiles), blended with
        image-embedding similarity when the model has embeddings for both; ``weights``: optional multipliers per
        item (e.g. :func:`collector.sentiment.rollup.substitute_weights`: poorly reviewed items count less), applied
        to positive similarities only."""
        where = np.flatnonzero(self.items == sku)
        if where.size == 0:
            raise BasketInputError(f"unknown SKU {sku!r} (the model knows {self.items.size} items)")
        i = int(where[0])
        sim = self.profile @ self.profile[i]
        if self.embeddings is not None and np.any(self.embeddings[i]):
            emb = self.embeddings @ self.embeddings[i]
            has = np.any(self.embeddings, axis=1)
            sim = np.where(has, (1 - embedding_weight) * sim + embedding_weight * emb, sim)
        if weights:
            w = np.array([weights.get(str(name), 1.0) for name in self.items])
            sim = np.where(sim > 0, sim * w, sim)
        sim[i] = -np.inf
        top = np.argsort(-sim, kind="stable")[: min(k, self.items.size - 1)]
        return [(str(self.items[j]), float(sim[j])) for j in top]
