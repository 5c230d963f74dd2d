"""The EfficientNet-Lite0 product embedder (``make models``): runs on every engine, INT8 stays within cosine
0.98 of FP32 on real product photos (Grocery Store Dataset, val split), and still tells products apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.edge.models_fixtures import built_manifest


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> tuple[list[Path], np.ndarray]:
    root = shared_data / "grocery-store"
    lines = [line.split(", ") for line in (root / "val.txt").read_text().splitlines() if line.strip()]
    picked = lines[::10]
    return [root / path for path, _, _ in picked], np.array([int(coarse) for _, _, coarse in picked])


def test_int8_embeddings_keep_cosine_to_fp32(photos: tuple[list[Path], np.ndarray]) -> None:
    from edge.analytics.sku import Embedder

    manifest = built_manifest("efficientnet-lite0")
    assert manifest.task == "embed" and manifest.architecture == "embedder"
    paths, coarse = photos
    assert len(paths) >= 25
    report = {}
    for engine in ("onnxruntime", "openvino", "litert"):
        options = {"inference_precision": "f32"} if engine == "openvino" else {}
        fp32 = Embedder(manifest.root, engine, "fp32", **options).embed_files(paths)
        int8 = Embedder(manifest.root, engine, "int8", **options).embed_files(paths)
        assert fp32.shape == (len(paths), 1280)
        assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-3)
        cosine = (fp32 * int8).sum(axis=1)
        report[engine] = (round(float(cosine.mean()), 4), round(float(cosine.min()), 4))
        # embeddings still separate products: same coarse class closer than different classes, on average
        sim = int8 @ int8.T
        same = coarse[:, None] == coarse[None, :]
        np.fill_diagonal(same, False)
        other = coarse[:, None] != coarse[None, :]
        assert sim[same].mean() > sim[other].mean() + 0.05, engine
    assert all(mean >= 0.98 and low >= 0.95 for mean, low in report.values()), report
