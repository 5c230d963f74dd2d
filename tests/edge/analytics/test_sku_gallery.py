"""SKU gallery: matching, unknown threshold, calibration, save/load and its errors (no model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.analytics.sku import (
    UNKNOWN,
    Gallery,
    GalleryError,
    calibrate_threshold,
    l2_normalise,
    labelled_images,
    load_projection,
    save_projection,
)


def clustered(
    n_skus: int = 6, per_sku: int = 5, dim: int = 32, spread: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Embeddings scattered around one random centre per SKU; returns (vectors, labels, centres)."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(n_skus, dim)))
    vectors = np.repeat(centres, per_sku, axis=0) + rng.normal(scale=spread, size=(n_skus * per_sku, dim))
    labels = [f"sku-{i}" for i in range(n_skus) for _ in range(per_sku)]
    return l2_normalise(vectors), labels, centres


def gallery_of(vectors: np.ndarray, labels: list[str], threshold: float = 0.0) -> Gallery:
    g = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.str_), threshold=threshold, embedder="test/fp32")
    for sku in dict.fromkeys(labels):
        g.enroll(sku, vectors[np.array(labels) == sku])
    return g


def test_match_ranks_skus_by_nearest_neighbour_cosine() -> None:
    vectors, labels, centres = clustered()
    g = gallery_of(vectors, labels)
    matches = g.match(centres, k=3)
    assert [m.sku for m in matches] == [f"sku-{i}" for i in range(6)]
    for m in matches:
        scores = [s for _, s in m.top]
        assert len(m.top) == 3 and scores == sorted(scores, reverse=True) and len({s for s, _ in m.top}) == 3
        assert m.score == pytest.approx(scores[0])


def test_below_threshold_is_unknown() -> None:
    vectors, labels, centres = clustered()
    g = gallery_of(vectors, labels, threshold=0.6)
    stranger = l2_normalise(np.random.default_rng(9).normal(size=(1, 32)))
    assert g.match(stranger)[0].sku == UNKNOWN
    assert g.match(centres[2])[0].sku == "sku-2"


def test_neighbour_voting_outweighs_a_single_outlier_row() -> None:
    rng = np.random.default_rng(3)
    a, b = l2_normalise(rng.normal(size=(2, 16)))
    query = l2_normalise(0.6 * a + 0.4 * b)
    odd = l2_normalise(query + 0.01 * rng.normal(size=16))  # one odd photo of SKU "b" right next to the query
    rows = np.vstack([odd, l2_normalise(a + 0.05 * rng.normal(size=(5, 16))),
                      l2_normalise(b + 0.05 * rng.normal(size=(5, 16)))])
    labels = ["b"] + ["a"] * 5 + ["b"] * 5
    g = gallery_of(rows, labels)
    g.neighbours = 1
    assert g.match(query)[0].sku == "b"
    g.neighbours = 5
    assert g.match(query)[0].sku == "a"
    assert g.match(query)[0].score == pytest.approx(float(np.mean(rows[1:6] @ query)), abs=1e-5)


def test_enrolling_a_new_sku_takes_effect_immediately() -> None:
    vectors, labels, _ = clustered()
    g = gallery_of(vectors, labels, threshold=0.5)
    newcomer = l2_normalise(np.random.default_rng(5).normal(size=(1, 32)))
    assert g.match(newcomer)[0].sku == UNKNOWN
    g.enroll("sku-new", newcomer)
    assert g.match(newcomer)[0].sku == "sku-new"
    assert "sku-new" in g.skus


def test_enroll_refuses_bad_names_and_dimensions() -> None:
    vectors, labels, _ = clustered()
    g = gallery_of(vectors, labels)
    with pytest.raises(GalleryError, match="invalid SKU name 'unknown'"):
        g.enroll(UNKNOWN, vectors[:1])
    with pytest.raises(GalleryError, match="16 dimensions, the gallery 32"):
        g.enroll("x", np.ones((1, 16)))


def test_calibration_accepts_the_requested_share_and_rejects_strangers() -> None:
    vectors, labels, _ = clustered(n_skus=10, per_sku=8)
    g = gallery_of(vectors, labels)
    threshold, rates = calibrate_threshold(g, g.embeddings, g.labels.tolist(), accept=0.9, leave_one_out=True)
    assert rates["accepted"] >= 0.9
    assert rates["rejected_impostors"] > 0.9  # well separated clusters: strangers score far lower
    g.threshold = threshold
    queries, qlabels, _ = clustered(n_skus=10, per_sku=8, seed=0)
    assert np.mean([m.sku == q for m, q in zip(g.match(queries), qlabels, strict=True)]) > 0.85


def test_calibration_needs_genuine_pairs() -> None:
    vectors, labels, _ = clustered(per_sku=1)
    g = gallery_of(vectors, labels)
    with pytest.raises(GalleryError, match="cannot calibrate"):
        calibrate_threshold(g, g.embeddings, g.labels.tolist(), leave_one_out=True)


def test_save_load_round_trip(tmp_path: Path) -> None:
    vectors, labels, centres = clustered()
    g = gallery_of(vectors, labels, threshold=0.42)
    path = g.save(tmp_path / "gallery.npz")
    back = Gallery.load(path)
    np.testing.assert_array_equal(back.embeddings, g.embeddings)
    assert back.labels.tolist() == labels and back.threshold == 0.42 and back.embedder == "test/fp32"
    assert [m.sku for m in back.match(centres)] == [m.sku for m in g.match(centres)]


def test_empty_gallery_is_refused(tmp_path: Path) -> None:
    empty = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.str_))
    with pytest.raises(GalleryError, match="empty"):
        empty.match(np.ones((1, 4)))
    with pytest.raises(GalleryError, match="refusing to save an empty gallery"):
        empty.save(tmp_path / "g.npz")
    path = tmp_path / "empty.npz"
    with open(path, "wb") as handle:
        np.savez(handle, embeddings=np.zeros((0, 8), np.float32), labels=np.zeros(0, np.str_), meta=np.array("{}"))
    with pytest.raises(GalleryError, match=f"gallery {path} is empty"):
        Gallery.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip file at all", "is corrupt or not a .npz file"),
        (b"PK\x03\x04truncated", "is corrupt or not a .npz file"),
    ],
)
def test_corrupt_gallery_file_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(GalleryError, match=message):
        Gallery.load(path)


def test_truncated_real_gallery_is_refused(tmp_path: Path) -> None:
    vectors, labels, _ = clustered()
    path = gallery_of(vectors, labels).save(tmp_path / "g.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GalleryError, match="corrupt"):
        Gallery.load(path)


def test_foreign_npz_and_missing_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    with open(path, "wb") as handle:
        np.savez(handle, weights=np.ones(3))
    with pytest.raises(GalleryError, match="not a smartstore gallery"):
        Gallery.load(path)
    with pytest.raises(GalleryError, match="does not exist"):
        Gallery.load(tmp_path / "nope.npz")
    nan = tmp_path / "nan.npz"
    with open(nan, "wb") as handle:
        np.savez(
            handle, embeddings=np.full((2, 4), np.nan, np.float32), labels=np.array(["a", "b"]), meta=np.array("{}")
        )
    with pytest.raises(GalleryError, match="NaN"):
        Gallery.load(nan)


def test_labelled_images_use_the_folder_name(tmp_path: Path) -> None:
    for rel in ("Fruit/Apple/Granny-Smith/a.jpg", "Fruit/Apple/Granny-Smith/b.png", "Milk/Oatly/c.jpg", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [(s, p.name) for s, p in labelled_images(tmp_path)] == [
        ("Granny-Smith", "a.jpg"),
        ("Granny-Smith", "b.png"),
        ("Oatly", "c.jpg"),
    ]
    (tmp_path / "loose.jpg").write_bytes(b"x")
    with pytest.raises(GalleryError, match="must sit in a folder named after their SKU"):
        labelled_images(tmp_path)


def test_same_sku_name_in_two_folders_is_refused(tmp_path: Path) -> None:
    for rel in ("a/Milk/x.jpg", "b/Milk/y.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    with pytest.raises(GalleryError, match="SKU 'Milk' appears in two folders"):
        labelled_images(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GalleryError, match="no images found"):
        labelled_images(tmp_path / "empty")


def test_projection_is_applied_to_enrolment_and_queries_and_saved(tmp_path: Path) -> None:
    vectors, labels, centres = clustered(dim=32)
    rng = np.random.default_rng(4)
    projection = (rng.normal(scale=0.01, size=32).astype(np.float32), rng.normal(size=(32, 8)).astype(np.float32))
    g = Gallery.from_raw(vectors, labels, projection, embedder="test/fp32")
    assert g.embeddings.shape == (len(labels), 8)
    np.testing.assert_allclose(g.embeddings[0], l2_normalise((vectors[0] - projection[0]) @ projection[1]), atol=1e-5)
    back = Gallery.load(g.save(tmp_path / "g.npz"))
    assert back.projection is not None
    assert [m.sku for m in back.match(centres)] == [m.sku for m in g.match(centres)]
    save_projection(tmp_path / "p.npz", *projection, "test/fp32", threshold=0.5)
    (mean, matrix), embedder, threshold = load_projection(tmp_path / "p.npz")
    np.testing.assert_allclose(matrix, projection[1], rtol=1e-3, atol=1e-3)  # stored as float16
    np.testing.assert_array_equal(mean, projection[0])
    assert embedder == "test/fp32" and threshold == 0.5
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(GalleryError, match=r"projection .*bad.npz is missing or corrupt"):
        load_projection(tmp_path / "bad.npz")
    with pytest.raises(GalleryError, match="expects 32"):
        g.match(np.ones((1, 16)))
