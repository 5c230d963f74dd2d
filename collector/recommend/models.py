"""Basket recommenders behind one interface: ``fit(baskets)`` then ``score(baskets) -> (n, items)`` array.

- ``Popularity``: item counts (the cold-start fallback and the baseline to beat).
- ``CoOccurrence``: item-item cosine or lift of co-purchase counts.
- ``EASE``: the closed-form linear item-item model of Steck (2019), ``B = I - P / diag(P)``, ``P = (X'X + λI)^-1``.
- ``ContextEASE``: EASE whose input also holds one-hot context tokens (hour of day, weekday, customer's past items
  are not needed): the closed form learns how each context shifts every item, so a basket at 08:00 and one at
  14:00 get different suggestions. The shipped model.
- ``ALS``: implicit-feedback matrix factorisation (``implicit``'s ALS), new baskets folded in exactly.
- ``SVD``: truncated SVD of the basket matrix (the SVD baseline of the source material).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from collector.recommend.data import Baskets


def _gram(x: sp.csr_matrix) -> np.ndarray:
    return np.asarray((x.T @ x).toarray(), dtype=np.float64)


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """Closed-form EASE item-item weights with a zero diagonal."""
    g = gram.copy()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    return b


@dataclass
class Popularity:
    name: str = "popularity"
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, baskets: Baskets) -> Popularity:
        self.counts = np.asarray(baskets.matrix.sum(axis=0)).ravel()
        return self

    def score(self, baskets: Baskets) -> np.ndarray:
        return np.broadcast_to(self.counts, (baskets.n, self.counts.size)).astype(float)


@dataclass
class CoOccurrence:
    """``kind="cosine"``: C_ij / sqrt(d_i d_j); ``kind="lift"``: C_ij N / (d_i d_j) (shrunk by ``shrink`` counts)."""

    kind: str = "cosine"
    shrink: float = 10.0
    name: str = ""
    sim: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    prior: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.name = self.name or f"cooc_{self.kind}"

    def fit(self, baskets: Baskets) -> CoOccurrence:
        c = _gram(baskets.matrix)
        d = np.diag(c).copy()
        np.fill_diagonal(c, 0.0)
        shrunk = c / (c + self.shrink) * c  # damp pairs seen a handful of times
        if self.kind == "cosine":
            self.sim = shrunk / (np.sqrt(np.outer(d, d)) + 1e-9)
        elif self.kind == "lift":
            self.sim = shrunk * baskets.n / (np.outer(d, d) + 1e-9)
        else:
            raise ValueError(f"unknown co-occurrence kind {self.kind!r}")
        self.prior = d / max(d.sum(), 1.0) * 1e-6  # tie-break by popularity
        return self

    def score(self, baskets: Baskets) -> np.ndarray:
        return np.asarray(baskets.matrix @ self.sim) + self.prior


@dataclass
class EASE:
    lam: float = 50.0
    name: str = "ease"
    b: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    prior: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, baskets: Baskets) -> EASE:
        g = _gram(baskets.matrix)
        self.b = ease_weights(g, self.lam)
        self.prior = np.diag(g) / max(np.diag(g).sum(), 1.0) * 1e-6
        return self

    def score(self, baskets: Baskets) -> np.ndarray:
        return np.asarray(baskets.matrix @ self.b) + self.prior


def hour_band(hour: np.ndarray) -> np.ndarray:
    """Context buckets of the day: each opening hour on its own, night hours pooled."""
    return np.clip(hour, 6, 21) - 6  # 0..15


@dataclass
class ContextEASE:
    """EASE over ``[items | bias | hour band | weekday]``: context tokens are inputs only, never recommended.

    ``context_weight`` scales the context columns (how loudly context speaks next to the basket's items).
    """

    lam: float = 50.0
    context_weight: float = 1.0
    name: str = "context_ease"
    b: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    n_items: int = 0

    N_HOURS = 16
    N_DAYS = 7

    def context(self, baskets: Baskets) -> sp.csr_matrix:
        n = baskets.n
        cols = [np.zeros(n, dtype=np.int64)]  # a bias token: every basket has it (context-free popularity)
        if baskets.hour is not None and baskets.weekday is not None:
            cols += [1 + hour_band(baskets.hour), 1 + self.N_HOURS + baskets.weekday]
        rows = np.repeat(np.arange(n), len(cols))
        data = np.full(rows.size, self.context_weight)
        width = 1 + self.N_HOURS + self.N_DAYS
        return sp.csr_matrix((data, (rows, np.stack(cols, axis=1).ravel())), shape=(n, width))

    def _input(self, baskets: Baskets) -> sp.csr_matrix:
        return sp.hstack([baskets.matrix, self.context(baskets)], format="csr")

    def fit(self, baskets: Baskets) -> ContextEASE:
        self.n_items = baskets.matrix.shape[1]
        self.b = ease_weights(_gram(self._input(baskets)), self.lam)[:, : self.n_items]
        return self

    def score(self, baskets: Baskets) -> np.ndarray:
        return np.asarray(self._input(baskets) @ self.b)


@dataclass
class ALS:
    """Implicit ALS (Hu, Koren, Volinsky 2008) via ``implicit``; query baskets folded in with the closed form."""

    factors: int = 32
    reg: float = 10.0
    alpha: float = 1.0
    iterations: int = 15
    seed: int = 0
    name: str = "als"
    items: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    prior: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, baskets: Baskets) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(factors=self.factors, regularization=self.reg, alpha=self.alpha,
                                        iterations=self.iterations, random_state=self.seed)
        model.fit(baskets.matrix.astype(np.float32), show_progress=False)
        self.items = np.asarray(model.item_factors, dtype=np.float64)
        counts = np.asarray(baskets.matrix.sum(axis=0)).ravel()
        self.prior = counts / max(counts.sum(), 1.0) * 1e-6
        return self

    def score(self, baskets: Baskets) -> np.ndarray:
        y = self.items
        yty = y.T @ y
        out = np.empty((baskets.n, y.shape[0]))
        x = baskets.matrix.tocsr()
        eye = self.reg * np.eye(y.shape[1])
        for r in range(baskets.n):
            idx = x.indices[x.indptr[r]: x.indptr[r + 1]]
            yi = y[idx]
            u = np.linalg.solve(yty + self.alpha * yi.T @ yi + eye, (1 + self.alpha) * yi.sum(axis=0))
            out[r] = y @ u
        return out + self.prior


@dataclass
class SVD:
    """Pure SVD: scores = x V V' with the top ``factors`` right singular vectors of the basket matrix."""

    factors: int = 4
    name: str = "svd"
    v: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    prior: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, baskets: Baskets) -> SVD:
        from scipy.sparse.linalg import svds

        k = min(self.factors, min(baskets.matrix.shape) - 1)
        _, _, vt = svds(baskets.matrix.astype(np.float64), k=k, random_state=0)
        self.v = vt.T
        counts = np.asarray(baskets.matrix.sum(axis=0)).ravel()
        self.prior = counts / max(counts.sum(), 1.0) * 1e-6
        return self

    def score(self, baskets: Baskets) -> np.ndarray:
        return np.asarray(baskets.matrix @ self.v) @ self.v.T + self.prior
