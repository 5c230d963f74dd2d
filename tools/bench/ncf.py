"""Neural collaborative filtering (NeuMF = GMF + MLP, He et al. 2017) adapted to item-to-basket, for comparison only.

NCF's "user" is the query basket: its vector is the mean embedding of the items it holds (one table for the GMF
path, one for the MLP path; candidates have their own tables). A candidate item ``j`` scores

    s(b, j) = h · [p_b ⊙ q_j, MLP([m_b, r_j])] + c_j

Training examples are made like the test queries: from each train basket with 2+ items every item in turn is the
target and the rest the query. Loss ``bce``: the positive against ``negatives`` uniformly sampled items not in the
basket, resampled every epoch (He et al.); ``softmax``: cross-entropy over the whole catalogue (95 items here).
Hyper-parameters and the epoch count are chosen by ``tune`` on a validation split carved from the train baskets.

Benchmark-only: this module imports torch; the collector runtime never imports it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from collector.recommend.data import Baskets
from collector.recommend.evaluate import hide_one, rank_metrics, split_by_time


class NeuMF(nn.Module):
    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.ctx_gmf, self.item_gmf = nn.Embedding(n_items, dim), nn.Embedding(n_items, dim)
        self.ctx_mlp, self.item_mlp = nn.Embedding(n_items, dim), nn.Embedding(n_items, dim)
        for emb in (self.ctx_gmf, self.item_gmf, self.ctx_mlp, self.item_mlp):
            nn.init.normal_(emb.weight, std=0.01)
        self.first = nn.Linear(2 * dim, dim)  # the MLP tower 2d -> d -> d/2 on [m_b, r_j]
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(dim, dim // 2), nn.ReLU())
        self.head = nn.Linear(dim + dim // 2, 1)
        self.bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, query: torch.Tensor, cand: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of candidates ``cand`` (B, C), or of every item when None, for row-normalised ``query`` (B, items)."""
        dim = self.ctx_gmf.embedding_dim
        w = self.first.weight
        # first MLP layer on the concatenation [m_b, r_j], computed per basket and per item, then broadcast
        m = query @ (self.ctx_mlp.weight @ w[:, :dim].T) + self.first.bias
        r = self.item_mlp.weight @ w[:, dim:].T
        p, q, bias = query @ self.ctx_gmf.weight, self.item_gmf.weight, self.bias
        if cand is None:  # broadcasting instead of gathering: no slow scatter-add in the backward pass
            gmf, mlp = p[:, None, :] * q[None], self.rest(m[:, None, :] + r[None])
        else:
            gmf, mlp, bias = p[:, None, :] * q[cand], self.rest(m[:, None, :] + r[cand]), bias[cand]
        return self.head(torch.cat([gmf, mlp], dim=-1)).squeeze(-1) + bias


def _normalised(x: sp.csr_matrix) -> torch.Tensor:
    d = x.toarray().astype(np.float32)
    return torch.from_numpy(d / np.maximum(d.sum(axis=1, keepdims=True), 1.0))


def _examples(x: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leave-one-out training pairs: (normalised query rows, target items, full-basket rows)."""
    x = x.tocsr()
    sizes = np.diff(x.indptr)
    rows = np.repeat(np.arange(x.shape[0]), sizes)
    ok = sizes[rows] >= 2
    rows, target = rows[ok], x.indices[ok]
    full = torch.from_numpy(x[rows].toarray().astype(np.float32))
    query = full.clone()
    query[torch.arange(rows.size), torch.from_numpy(target)] = 0.0
    return query / query.sum(dim=1, keepdim=True), torch.from_numpy(target.astype(np.int64)), full


@dataclass
class NCF:
    """NeuMF over basket items; ``fit(baskets)`` trains ``epochs`` epochs, ``score(baskets)`` ranks the catalogue."""

    dim: int = 16
    loss: str = "softmax"  # softmax | bce
    negatives: int = 4
    lr: float = 3e-3
    weight_decay: float = 0.0
    epochs: int = 20
    batch: int = 256
    seed: int = 0
    name: str = "ncf"
    net: NeuMF | None = field(default=None, repr=False)

    def fit(self, baskets: Baskets, validate: Baskets | None = None) -> list[float]:
        """Train; with ``validate`` (a validation split, one item hidden per basket, seeds 0-4) return its mean HR@10
        after every epoch."""
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        n_items = baskets.matrix.shape[1]
        query, target, full = _examples(baskets.matrix)
        self.net = NeuMF(n_items, self.dim)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        curve = []
        holdouts = [hide_one(validate, s) for s in range(5)] if validate is not None else []
        for _ in range(self.epochs):
            self.net.train()
            for idx in torch.randperm(target.numel(), generator=gen).split(self.batch):
                q, t, f = query[idx], target[idx], full[idx]
                if self.loss == "softmax":
                    s = self.net(q).masked_fill(q > 0, -torch.inf)
                    loss = nn.functional.cross_entropy(s, t)
                elif self.loss == "bce":
                    neg = torch.randint(0, n_items, (idx.numel(), self.negatives), generator=gen)
                    cand = torch.cat([t[:, None], neg], dim=1)
                    label = torch.zeros(cand.shape)
                    label[:, 0] = 1.0
                    weight = torch.ones(cand.shape)
                    weight[:, 1:] = 1.0 - f.gather(1, neg)  # a "negative" that is in the basket does not count
                    loss = nn.functional.binary_cross_entropy_with_logits(self.net(q, cand), label, weight)
                else:
                    raise ValueError(f"unknown NCF loss {self.loss!r}")
                opt.zero_grad()
                loss.backward()
                opt.step()
            if holdouts:
                curve.append(float(np.mean([rank_metrics(self.score(h.query), h)["hr"] for h in holdouts])))
        return curve

    def score(self, baskets: Baskets) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("NCF.score before fit")
        self.net.eval()
        q = _normalised(baskets.matrix)
        with torch.no_grad():
            out = [self.net(b) for b in q.split(1024)]
        return torch.cat(out).numpy().astype(np.float64)


GRID = {"loss": ("softmax", "bce"), "dim": (16, 32), "lr": (1e-3, 3e-3)}


def tune(train: Baskets, base: NCF, max_epochs: int = 40, val_share: float = 0.1,
         grid: dict[str, tuple] = GRID) -> tuple[NCF, list[tuple[dict, int, float]]]:
    """Pick hyper-parameters and epochs on the last ``val_share`` of ``train`` (time order); the test split is unseen.

    Returns the chosen model (unfitted, ``epochs`` set) and, per configuration, (params, best epoch, validation HR@10).
    """
    fit_part, val = split_by_time(train, 1.0 - val_share)
    table = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        curve = replace(base, epochs=max_epochs, **params).fit(fit_part, validate=val)
        best = int(np.argmax(curve))
        table.append((params, best + 1, curve[best]))
    params, epochs, _ = max(table, key=lambda row: row[2])
    return replace(base, epochs=epochs, **params), table
