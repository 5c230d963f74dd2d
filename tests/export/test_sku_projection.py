"""export/sku_projection.py: LDA and within-class whitening on synthetic embeddings whose SKUs differ in a few
directions and vary (angle, light) in a shared nuisance direction; the shipped projection matches its manifest."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from edge.analytics.gallery import Gallery, default_projection, load_projection
from edge.models import sha256_file
from export.sku_projection import fit_combined, fit_lda, fit_whitening


def _skus(rng: np.random.Generator, n_skus: int, per_sku: int, d: int = 32) -> tuple[np.ndarray, list[str]]:
    """Class centres 0.3 apart in random directions; a strong shared nuisance along the first axes."""
    centres = rng.normal(size=(n_skus, d)) * 0.3
    nuisance = np.zeros((per_sku * n_skus, d))
    nuisance[:, :4] = rng.normal(size=(per_sku * n_skus, 4)) * 2.0
    x = np.repeat(centres, per_sku, axis=0) + nuisance + rng.normal(size=(per_sku * n_skus, d)) * 0.05
    return x.astype(np.float32), [f"sku-{i}" for i in range(n_skus) for _ in range(per_sku)]


def _top1(projection: tuple[np.ndarray, np.ndarray] | None, rng: np.random.Generator) -> float:
    gx, gl = _skus(np.random.default_rng(7), 20, 6)
    qx = gx + rng.normal(size=gx.shape).astype(np.float32) * 0.05
    qx[:, :4] = rng.normal(size=(len(qx), 4)) * 2.0  # the same SKUs seen under other nuisance
    gallery = Gallery.from_raw(gx, gl, projection)
    return float(np.mean([m.top[0][0] == t for m, t in zip(gallery.match(qx, k=1), gl, strict=True)]))


def test_whitening_fitted_on_other_skus_removes_the_shared_nuisance() -> None:
    rng = np.random.default_rng(0)
    x, labels = _skus(np.random.default_rng(1), 30, 8)  # other SKUs than the gallery's
    mean, matrix = fit_whitening(x, labels)
    assert matrix.shape == (32, 32) and mean.shape == (32,)
    raw, whitened = _top1(None, rng), _top1((mean, matrix), rng)
    assert whitened > raw + 0.3, (raw, whitened)


def test_lda_keeps_at_most_classes_minus_one_directions() -> None:
    x, labels = _skus(np.random.default_rng(2), 5, 10)
    mean, matrix = fit_lda(x, labels, dims=128)
    assert matrix.shape == (32, 4)
    assert mean.shape == (32,)


def test_shipped_projection_matches_its_manifest() -> None:
    path = default_projection()
    manifest = yaml.safe_load(path.with_suffix(".yaml").read_text())
    assert manifest["file"] == path.name and sha256_file(path) == manifest["sha256"]
    (_, matrix), embedder, threshold = load_projection(path)
    assert embedder.startswith("efficientnet-lite0/") and matrix.shape == (1280, 1280 + 80) and threshold is not None


def test_combined_is_the_whitening_beside_the_weighted_lda() -> None:
    x, labels = _skus(np.random.default_rng(3), 6, 10)
    mean, matrix = fit_combined(x, labels, lda_weight=0.5)
    assert matrix.shape == (32, 32 + 5)
    norms = [np.median(np.linalg.norm((x - mean) @ part, axis=1)) for part in (matrix[:, :32], matrix[:, 32:])]
    assert norms == [pytest.approx(1.0, rel=1e-4), pytest.approx(0.5, rel=1e-4)]
