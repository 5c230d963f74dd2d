"""SKU matching: a gallery of L2-normalised embeddings per SKU, cosine k-NN matching, ``unknown`` below a threshold.

The gallery is a ``.npz`` file (``embeddings`` float32 (n, d), ``labels`` str (n,), ``threshold``, ``embedder``);
:meth:`Gallery.load` refuses an empty, corrupt or inconsistent file with a message that names it. The threshold is
calibrated on labelled images (e.g. the train split): the cosine score that keeps ``accept`` of the genuine matches.
A projection file (``export/sku_projection.py``) maps embedder outputs into a better-separated space.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.models import models_dir
from edge.vision.detections import FloatArray
from errors import SmartstoreError

UNKNOWN = "unknown"


class GalleryError(SmartstoreError, ValueError):
    """A gallery that cannot be used: missing, corrupt, empty, or built by another embedder."""


def l2_normalise(x: npt.ArrayLike) -> FloatArray:
    v = np.asarray(x, np.float32)
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Match:
    """Top-k SKUs for one query, best first; ``sku`` is the best one or ``unknown`` below the threshold."""

    sku: str
    score: float
    top: list[tuple[str, float]]


@dataclass(slots=True)
class Gallery:
    embeddings: FloatArray  # (n, d), rows L2-normalised
    labels: npt.NDArray[np.str_]  # (n,) SKU of each row
    threshold: float = 0.0  # best score below this -> unknown
    embedder: str = ""  # which embedder made the rows (name/precision); queries must come from the same one
    projection: tuple[FloatArray, FloatArray] | None = None  # (mean (d,), matrix (d, p)) applied to raw embeddings
    neighbours: int = 10  # a SKU's score: mean similarity of its this many nearest gallery rows
    _index: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings, np.float32)
        self.labels = np.asarray(self.labels, dtype=np.str_)
        self._index.clear()

    @classmethod
    def from_raw(
        cls,
        raw: npt.ArrayLike,
        labels: Sequence[str],
        projection: tuple[FloatArray, FloatArray] | None = None,
        embedder: str = "",
    ) -> Gallery:
        """A gallery of embedder outputs ``raw`` (projected here when a projection is given)."""
        gallery = cls(np.zeros((0, 0), np.float32), np.zeros(0, np.str_), embedder=embedder, projection=projection)
        labels = list(labels)
        for sku in dict.fromkeys(labels):
            gallery.enroll(sku, np.asarray(raw)[np.array(labels) == sku])
        return gallery

    def project(self, raw: npt.ArrayLike) -> FloatArray:
        """Embedder outputs -> the gallery's space (L2-normalised)."""
        x = l2_normalise(np.atleast_2d(np.asarray(raw, np.float32)))
        if self.projection is None:
            return x
        mean, matrix = self.projection
        if x.shape[1] != len(mean):
            raise GalleryError(f"embeddings have {x.shape[1]} dimensions, the gallery's projection expects {len(mean)}")
        return l2_normalise((x - mean) @ matrix)

    @property
    def skus(self) -> list[str]:
        return sorted(set(self.labels.tolist()))

    def __len__(self) -> int:
        return len(self.labels)

    def enroll(self, sku: str, embeddings: npt.ArrayLike) -> None:
        """Add rows for ``sku`` (new or existing): no retraining, the next match sees them."""
        if not sku or sku == UNKNOWN:
            raise GalleryError(f"invalid SKU name {sku!r}")
        rows = self.project(embeddings)
        if len(self) and rows.shape[1] != self.embeddings.shape[1]:
            raise GalleryError(
                f"SKU {sku!r}: embeddings have {rows.shape[1]} dimensions, the gallery {self.embeddings.shape[1]}"
            )
        self.embeddings = rows if not len(self) else np.concatenate([self.embeddings, rows])
        self.labels = np.concatenate([self.labels, np.array([sku] * len(rows), dtype=np.str_)])
        self._index.clear()

    def _classes(self) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """SKU names (sorted), and a (n_skus, most rows) table of each SKU's gallery rows padded with -1."""
        if not self._index:
            names, inverse = np.unique(self.labels, return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            counts = np.bincount(inverse, minlength=len(names))
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            slot = np.arange(len(order)) - starts[inverse[order]]
            table = np.full((len(names), int(counts.max(initial=0))), -1, np.int64)
            table[inverse[order], slot] = order
            self._index.update(names=names, order=order, starts=starts, table=table)
        return self._index["names"], self._index["order"], self._index["table"]

    def class_scores(
        self, queries: npt.ArrayLike, exclude: npt.NDArray[np.bool_] | None = None, projected: bool = False
    ) -> FloatArray:
        """Per query and SKU, (q, n_skus) in :meth:`_classes` order: the mean cosine similarity of the SKU's
        ``neighbours`` most similar gallery rows (fewer when it has fewer; 1: nearest neighbour).

        ``queries`` are embedder outputs (``projected``: already in the gallery's space); ``exclude`` (q, n) masks
        gallery rows per query (leave-one-out calibration). A SKU with no usable row scores -2.
        """
        if not len(self):
            raise GalleryError("the gallery is empty: enroll at least one SKU")
        q = l2_normalise(np.atleast_2d(np.asarray(queries, np.float32))) if projected else self.project(queries)
        sims = q @ self.embeddings.T
        if exclude is not None:
            sims = np.where(exclude, -2.0, sims)
        _, order, table = self._classes()
        if self.neighbours <= 1:
            return np.maximum.reduceat(sims[:, order], self._index["starts"], axis=1).astype(np.float32)
        grouped = np.where(table >= 0, sims[:, np.maximum(table, 0)], -2.0)  # (q, n_skus, most rows)
        k = min(self.neighbours, grouped.shape[2])
        best = -np.partition(-grouped, k - 1, axis=2)[:, :, :k]
        valid = best > -1.5
        total = np.where(valid, best, 0.0).sum(axis=2)
        count = valid.sum(axis=2)
        return np.where(count > 0, total / np.maximum(count, 1), -2.0).astype(np.float32)

    def match(self, queries: npt.ArrayLike, k: int = 5) -> list[Match]:
        """Top-``k`` SKUs per query by nearest-neighbour cosine similarity; ``unknown`` below the threshold."""
        queries = np.asarray(queries, np.float32)
        if queries.ndim == 1:
            queries = queries[None]
        if len(queries) == 0:
            return []
        scores = self.class_scores(queries)
        names = self._classes()[0]
        k = max(1, min(k, len(names)))
        top = np.argsort(-scores, axis=1)[:, :k]
        out = []
        for row, idx in zip(scores, top, strict=True):
            pairs = [(str(names[i]), float(row[i])) for i in idx]
            best = pairs[0]
            out.append(Match(best[0] if best[1] >= self.threshold else UNKNOWN, best[1], pairs))
        return out

    def save(self, path: str | Path) -> Path:
        if not len(self):
            raise GalleryError(f"refusing to save an empty gallery to {path}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:  # np.savez would append .npz to a name without it
            arrays: dict[str, npt.NDArray[Any]] = {
                "embeddings": self.embeddings,
                "labels": self.labels,
                "meta": np.array(
                    json.dumps({"threshold": self.threshold, "embedder": self.embedder, "neighbours": self.neighbours})
                ),
            }
            if self.projection is not None:
                arrays.update(proj_mean=self.projection[0], proj_matrix=self.projection[1])
            np.savez(handle, allow_pickle=False, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Gallery:
        path = Path(path)
        if not path.is_file():
            raise GalleryError(f"gallery {path} does not exist (make one: smartstore sku enroll DIR --out {path})")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"embeddings", "labels", "meta"} - set(data.files)
                if missing:
                    names = ", ".join(sorted(missing))
                    raise GalleryError(f"gallery {path} is not a smartstore gallery (missing {names})")
                embeddings, labels, meta = data["embeddings"], data["labels"], json.loads(str(data["meta"]))
                projection = (data["proj_mean"], data["proj_matrix"]) if "proj_matrix" in data.files else None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            if isinstance(exc, GalleryError):
                raise
            raise GalleryError(f"gallery {path} is corrupt or not a .npz file ({exc})") from None
        if embeddings.ndim != 2 or labels.shape != (len(embeddings),) or embeddings.shape[1] == 0:
            raise GalleryError(f"gallery {path}: embeddings {embeddings.shape} and labels {labels.shape} do not match")
        if len(labels) == 0:
            raise GalleryError(f"gallery {path} is empty: it has no SKUs (enroll some with smartstore sku enroll)")
        if not np.isfinite(embeddings).all():
            raise GalleryError(f"gallery {path}: embeddings contain NaN or infinity")
        if projection is not None and projection[1].shape != (len(projection[0]), embeddings.shape[1]):
            raise GalleryError(f"gallery {path}: projection {projection[1].shape} does not fit the embeddings")
        return cls(
            l2_normalise(embeddings),
            labels.astype(np.str_),
            float(meta.get("threshold", 0.0)),
            str(meta.get("embedder", "")),
            projection,
            int(meta.get("neighbours", 1)),
        )


def calibrate_threshold(
    gallery: Gallery,
    queries: npt.ArrayLike | None,
    labels: Sequence[str],
    accept: float = 0.95,
    leave_one_out: bool = False,
    burst: int = 5,
) -> tuple[float, dict[str, float]]:
    """Cosine threshold that accepts ``accept`` of genuine matches of labelled ``queries``.

    Genuine score: best similarity to the query's own SKU; impostor score: best similarity to any other SKU (what
    an un-enrolled product would score). With ``leave_one_out`` the queries are the gallery rows themselves
    (``queries`` ignored) and each is kept from matching itself and, for SKUs with enough rows, the ``burst`` rows
    enrolled just before and after it (near-duplicate shots would make genuine scores look too good). Returns the
    threshold and ``{accepted, rejected_impostors}`` rates.
    """
    q = gallery.embeddings if leave_one_out else np.asarray(queries, np.float32)
    exclude = None
    if leave_one_out:  # a row never matches itself nor its burst neighbours (photos taken one after another)
        rows = np.arange(len(q))
        same = gallery.labels[:, None] == gallery.labels[None, :]
        _, inverse, counts = np.unique(gallery.labels, return_inverse=True, return_counts=True)
        reach = np.where(counts[inverse] > 2 * burst + 2, burst, 0)  # small SKUs: only the row itself
        exclude = same & (np.abs(rows[:, None] - rows[None, :]) <= reach[:, None])
    scores = gallery.class_scores(q, exclude, projected=leave_one_out)
    names = gallery._classes()[0]
    position = {str(n): i for i, n in enumerate(names)}
    known = np.array([lab in position for lab in labels])
    idx = np.array([position.get(lab, 0) for lab in labels])
    rows = np.arange(len(q))
    genuine = scores[rows, idx][known]
    others = scores.copy()
    others[rows[known], idx[known]] = -2.0
    impostor = others.max(axis=1)
    genuine = genuine[genuine > -2.0]  # a single-image SKU has no genuine pair when left out
    if len(genuine) == 0:
        raise GalleryError("cannot calibrate: no labelled query has a same-SKU gallery row")
    threshold = float(np.quantile(genuine, 1.0 - accept))
    return threshold, {
        "accepted": float(np.mean(genuine >= threshold)),
        "rejected_impostors": float(np.mean(impostor < threshold)),
    }


def save_projection(
    path: str | Path, mean: FloatArray, matrix: FloatArray, embedder: str, threshold: float | None = None
) -> Path:
    """Write a projection (and the cross-validated threshold of galleries built with it) to ``path``; the matrix
    as float16 (half the file; matching is unchanged at that precision), read back as float32."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, npt.NDArray[Any]] = {"mean": mean.astype(np.float32), "matrix": matrix.astype(np.float16),
                                           "embedder": np.array(embedder)}
    if threshold is not None:
        arrays["threshold"] = np.array(threshold, np.float32)
    with open(path, "wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    return path


def default_projection() -> Path:
    """The shipped projection ``sku enroll`` applies by default (made by ``export/sku_projection.py``)."""
    return models_dir() / "shelf-products" / "sku-projection.npz"


def load_projection(path: str | Path) -> tuple[tuple[FloatArray, FloatArray], str, float | None]:
    """``((mean, matrix), embedder name, threshold or None)`` from a file made by ``export/sku_projection.py``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            mean, matrix, embedder = data["mean"], data["matrix"], str(data["embedder"])
            threshold = float(data["threshold"]) if "threshold" in data.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise GalleryError(f"projection {path} is missing or corrupt ({exc})") from None
    if matrix.ndim != 2 or matrix.shape[0] != len(mean):
        raise GalleryError(f"projection {path}: matrix {matrix.shape} and mean {mean.shape} do not fit")
    return (mean.astype(np.float32), matrix.astype(np.float32)), embedder, threshold
