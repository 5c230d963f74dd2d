"""The shipped projection of product embeddings, fitted on the Grocery Store train split: within-class whitening
beside regularised LDA.

The frozen ImageNet embedder separates coarse kinds of products well but confuses look-alike SKUs (Arla milks,
apple varieties). Whitening the within-class scatter (angle, light, hands: the same for every SKU) damps what
varies within a SKU, and carries over to SKUs it was never fitted on; linear discriminant analysis adds the
directions that separate the fitted SKUs best (80 for 81 SKUs), and alone does not carry over. Both are one
(d, d + 80) matrix applied after the embedder (:func:`fit_combined`), so enrolment stays retraining-free. The
gallery stores it (``Gallery.projection``) and applies it to every query. Figures: tools/bench/sku_recognition.py.

    .venv/bin/python -m export.sku_projection --data ../shared/data/grocery-store \
        --out models/shelf-products/sku-projection.npz
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.analytics.sku import Embedder, Gallery, save_projection

log = logging.getLogger(__name__)
DIMS, SHRINKAGE = 128, 0.1  # at most n_classes - 1 dimensions are kept (80 for the Grocery Store's 81 SKUs)
LDA_WEIGHT = 0.5  # of the LDA part in fit_combined (tuned on the val split: 0 and >= 1 do worse, docs/shelf.md)


def split(root: Path, name: str) -> tuple[list[Path], list[str]]:
    """Image paths and fine class names of a Grocery Store split (``train.txt``/``val.txt``)."""
    classes = {int(r[1]): r[0] for r in list(csv.reader((root / "classes.csv").open()))[1:]}
    paths, labels = [], []
    for line in (root / f"{name}.txt").read_text().splitlines():
        rel, fine, _ = (x.strip() for x in line.split(","))
        paths.append(root / rel)
        labels.append(classes[int(fine)])
    return paths, labels


def cached_embeddings(embedder: Embedder, paths: list[Path], cache: Path) -> npt.NDArray[np.float32]:
    """Embeddings of ``paths``, kept in ``cache`` (.npy) keyed by the embedder and the file list."""
    if cache.is_file():
        data = np.load(cache)
        if len(data) == len(paths):
            return np.asarray(data, np.float32)
    vectors = embedder.embed_files(paths)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def within_scatter(x: npt.NDArray[Any], y: npt.NDArray[np.int64], shrinkage: float
                   ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Class centres and the within-class scatter shrunk by ``shrinkage`` towards its mean variance."""
    centres = np.stack([x[y == k].mean(axis=0) for k in range(int(y.max()) + 1)])
    within = x - centres[y]
    sw = within.T @ within / len(x)
    return centres, (1 - shrinkage) * sw + shrinkage * np.trace(sw) / len(sw) * np.eye(len(sw))


def fit_lda(x: npt.NDArray[np.float32], labels: list[str], dims: int = DIMS,
            shrinkage: float = SHRINKAGE) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(mean, matrix (d, dims)): LDA directions with the within-class scatter shrunk towards its mean variance."""
    x = np.asarray(x, np.float64)
    names, y = np.unique(np.asarray(labels), return_inverse=True)
    mean = x.mean(axis=0)
    centres, sw = within_scatter(x, y, shrinkage)
    counts = np.bincount(y).astype(np.float64)
    between = (centres - mean) * np.sqrt(counts / len(x))[:, None]
    sb = between.T @ between
    # whiten the within-class scatter, then the principal directions of the whitened between-class scatter
    evals, evecs = np.linalg.eigh(sw)
    whiten = evecs / np.sqrt(np.maximum(evals, 1e-12))
    b_evals, b_evecs = np.linalg.eigh(whiten.T @ sb @ whiten)
    order = np.argsort(b_evals)[::-1][: min(dims, len(names) - 1)]
    matrix = whiten @ b_evecs[:, order]
    return mean.astype(np.float32), matrix.astype(np.float32)


def fit_whitening(x: npt.NDArray[np.float32], labels: list[str],
                  shrinkage: float = 0.6) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(mean, matrix (d, d)): within-class whitening only (no between-class directions), which carries over to SKUs
    it was not fitted on better than LDA (tools/bench/sku_recognition.py, ``unseen``)."""
    x = np.asarray(x, np.float64)
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    evals, evecs = np.linalg.eigh(within_scatter(x, y, shrinkage)[1])
    return x.mean(axis=0).astype(np.float32), (evecs / np.sqrt(np.maximum(evals, 1e-12))).astype(np.float32)


def fit_combined(x: npt.NDArray[np.float32], labels: list[str], lda_weight: float = LDA_WEIGHT
                 ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(mean, matrix (d, d + n_classes - 1)): the within-class whitening (all directions: carries over to new
    SKUs) beside the LDA directions (separate the fitted SKUs best), each scaled to unit median norm on ``x`` and
    the LDA part weighted by ``lda_weight``. The shipped projection."""
    mean, whiten = fit_whitening(x, labels)
    _, lda = fit_lda(x, labels)
    parts = [m / float(np.median(np.linalg.norm((x - mean) @ m, axis=1))) for m in (whiten, lda)]
    return mean, np.concatenate([parts[0], lda_weight * parts[1]], axis=1).astype(np.float32)


def cross_validated_threshold(x: npt.NDArray[np.float32], labels: list[str], accept: float = 0.95,
                              folds: int = 4) -> float:
    """The unknown threshold for galleries in the projected space, without the optimism of scoring the images the
    projection was fitted on: each fold of every SKU's photos (consecutive shots kept together) is scored against
    a gallery of the other folds, through a projection fitted on the other folds only."""
    names = np.asarray(labels)
    rank = np.zeros(len(names), np.int64)
    for sku in np.unique(names):
        idx = np.flatnonzero(names == sku)
        rank[idx] = np.arange(len(idx)) * folds // len(idx)  # contiguous blocks: bursts stay in one fold
    genuine = []
    for fold in range(folds):
        held, rest = rank == fold, rank != fold
        rest_labels = names[rest].tolist()
        gallery = Gallery.from_raw(x[rest], rest_labels, fit_combined(x[rest], rest_labels))
        scores = gallery.class_scores(x[held])
        column = {str(n): i for i, n in enumerate(gallery._classes()[0])}
        genuine += scores[np.arange(int(held.sum())), [column[t] for t in names[held]]].tolist()
    return float(np.quantile(genuine, 1.0 - accept))


def top1(gallery: Gallery, queries: npt.NDArray[np.float32], labels: list[str]) -> float:
    return float(np.mean([m.top[0][0] == t for m, t in zip(gallery.match(queries), labels, strict=True)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/grocery-store"))
    parser.add_argument("--out", type=Path, default=Path("models/shelf-products/sku-projection.npz"))
    parser.add_argument("--cache", type=Path, default=Path("build/sku-embeddings"))
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    embedder = Embedder("efficientnet-lite0", "openvino", args.precision)
    train, train_labels = split(args.data, "train")
    val, val_labels = split(args.data, "val")
    x_train = cached_embeddings(embedder, train, args.cache / f"train-{args.precision}.npy")
    x_val = cached_embeddings(embedder, val, args.cache / f"val-{args.precision}.npy")
    raw = Gallery(x_train, np.array(train_labels))
    print(f"few-shot val top-1, raw embeddings: {top1(raw, x_val, val_labels):.3f}")
    # SKUs the projection never saw (true few-shot, 1/5/all shots): tools/bench/sku_recognition.py ("unseen")
    names = sorted(set(train_labels))
    mean, matrix = fit_combined(x_train, train_labels)
    projected = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.str_), projection=(mean, matrix))
    for sku in names:
        projected.enroll(sku, x_train[np.array(train_labels) == sku])
    print(f"few-shot val top-1, projected: {top1(projected, x_val, val_labels):.3f}")
    threshold = cross_validated_threshold(x_train, train_labels)
    projected.threshold = threshold
    print(f"cross-validated threshold {threshold:.3f}: val few-shot unknown rate "
          f"{np.mean([m.sku == 'unknown' for m in projected.match(x_val)]):.3f}")
    save_projection(args.out, mean, matrix, embedder.name, threshold)
    print(f"wrote {args.out} ({matrix.shape[0]} -> {matrix.shape[1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
