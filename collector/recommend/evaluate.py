"""Leave-one-out evaluation on baskets: hide one random item of each test basket, rank the rest of the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from collector.recommend.data import Baskets


@dataclass(frozen=True)
class Holdout:
    """Test baskets with one item hidden: ``query`` (the rest of each basket) and the ``hidden`` item index."""

    query: Baskets
    hidden: np.ndarray


def split_by_time(baskets: Baskets, train_share: float = 0.8) -> tuple[Baskets, Baskets]:
    """The first ``train_share`` of baskets (in time order) and the rest."""
    cut = round(baskets.n * train_share)
    return baskets.rows(np.arange(cut)), baskets.rows(np.arange(cut, baskets.n))


def hide_one(test: Baskets, seed: int) -> Holdout:
    """From every basket of 2+ items hide one item chosen at random (``seed``)."""
    x = test.matrix.tocsr()
    sizes = np.diff(x.indptr)
    keep = np.flatnonzero(sizes >= 2)
    if keep.size == 0:
        raise ValueError("no test basket has 2 or more items")
    rng = np.random.default_rng(seed)
    pick = x.indptr[keep] + (rng.random(keep.size) * sizes[keep]).astype(np.int64)
    hidden = x.indices[pick]
    sub = test.rows(keep)
    q = sub.matrix.tolil(copy=True)
    q[np.arange(keep.size), hidden] = 0
    query = sp.csr_matrix(q)
    query.eliminate_zeros()
    return Holdout(Baskets(sub.items, query, sub.ids, sub.hour, sub.weekday, sub.customer), hidden)


def rank_metrics(scores: np.ndarray, holdout: Holdout, k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k of the hidden item, never recommending what is already in the basket."""
    s = np.array(scores, dtype=np.float64, copy=True)
    q = holdout.query.matrix.tocoo()
    s[q.row, q.col] = -np.inf
    target = s[np.arange(s.shape[0]), holdout.hidden]
    rank = np.sum(s > target[:, None], axis=1)  # 0 = top
    hit = rank < k
    return {"hr": float(hit.mean()), "ndcg": float(np.mean(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0))),
            "n": int(s.shape[0])}
