"""Composed shelf scenes: exact boxes, valid YOLO labels, deterministic by seed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from export.shelf_detector import average_precision
from export.shelf_synth import CLASSES, Composer, Item, build_dataset, iconic_sprite, scene_rng, yolo_labels


def test_iconic_cut_out_hugs_the_product() -> None:
    image = np.full((200, 160, 3), 255, np.uint8)
    cv2.ellipse(image, (80, 110), (40, 70), 0, 0, 360, (30, 120, 200), -1)
    sprite = iconic_sprite(image)
    assert sprite is not None
    assert sprite.image.shape[:2] == (141, 81)  # the ellipse's extent, white border removed
    assert sprite.mask[70, 40] == 255 and sprite.mask[0, 0] == 0  # centre kept, corner (white) dropped


def test_boxes_follow_the_perspective_warp_exactly() -> None:
    canvas = np.zeros((480, 640, 3), np.uint8)
    polygon = np.float32([[200, 150], [260, 140], [300, 300], [190, 320], [180, 250]])
    cv2.fillPoly(canvas, [polygon.astype(np.int32)], (255, 255, 255))
    warped, items = Composer._warp(canvas, [Item(0, polygon)], np.random.default_rng(3))
    ys, xs = np.nonzero(warped[..., 0] > 127)
    ((cls, cx, cy, w, h),) = yolo_labels(items, (640, 480))
    assert cls == 0
    box = np.array([(cx - w / 2) * 640, (cy - h / 2) * 480, (cx + w / 2) * 640, (cy + h / 2) * 480])
    np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=2.0)


def test_labels_outside_the_frame_are_clipped_or_dropped() -> None:
    inside = Item(0, np.float32([[610, 10], [660, 10], [660, 50], [610, 50]]))  # 40% outside: clipped
    mostly_out = Item(1, np.float32([[630, 10], [730, 10], [730, 50], [630, 50]]))  # 90% outside: dropped
    rows = yolo_labels([inside, mostly_out], (640, 480))
    assert len(rows) == 1
    assert rows[0][0] == 0 and rows[0][1] + rows[0][3] / 2 == pytest.approx(1.0)


@pytest.fixture(scope="module")
def dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(shared_data / "grocery-store", tmp_path_factory.mktemp("scenes"), n_train=3, n_val=2, seed=7)


def test_dataset_has_yolo_layout_and_sane_labels(dataset: Path) -> None:
    data = yaml.safe_load(dataset.read_text())
    assert data["names"] == dict(enumerate(CLASSES)) == {0: "product", 1: "gap"}
    root = Path(data["path"])
    counts = np.zeros(2, int)
    for split, n in (("train", 3), ("val", 2)):
        images = sorted((root / data[split]).glob("*.jpg"))
        assert len(images) == n
        for image in images:
            assert cv2.imread(str(image)).shape == (480, 640, 3)
            rows = np.loadtxt(root / "labels" / split / f"{image.stem}.txt", ndmin=2)
            assert rows.shape[1] == 5
            assert set(np.unique(rows[:, 0])) <= {0, 1}
            assert (rows[:, 1:] > 0).all() and (rows[:, 1:] <= 1).all()
            counts += np.bincount(rows[:, 0].astype(int), minlength=2)
    assert counts[0] >= 5 * 10  # dense shelves: at least ten products per scene
    assert counts[1] >= 1


def test_scenes_are_deterministic_by_seed(dataset: Path, shared_data: Path, tmp_path: Path) -> None:
    again = build_dataset(shared_data / "grocery-store", tmp_path, n_train=1, n_val=0, seed=7)
    first = dataset.parent / "images" / "train" / "train_00000.jpg"
    assert (again.parent / "images" / "train" / "train_00000.jpg").read_bytes() == first.read_bytes()
    assert (again.parent / "labels" / "train" / "train_00000.txt").read_text() == \
        (dataset.parent / "labels" / "train" / "train_00000.txt").read_text()
    other = build_dataset(shared_data / "grocery-store", tmp_path / "other", n_train=1, n_val=0, seed=8)
    assert (other.parent / "images" / "train" / "train_00000.jpg").read_bytes() != first.read_bytes()


def test_scene_rng_depends_on_seed_split_and_index() -> None:
    draws = {(s, sp, i): scene_rng(s, sp, i).random() for s in (0, 1) for sp in ("train", "val") for i in (0, 1)}
    assert len(set(draws.values())) == len(draws)
    assert scene_rng(0, "val", 1).random() == draws[(0, "val", 1)]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="grocery-store dataset not found"):
        build_dataset(tmp_path / "nope", tmp_path / "out", n_train=1, n_val=1)


def test_average_precision_of_known_cases() -> None:
    truth = [np.float32([[0, 0, 10, 10], [20, 20, 30, 30]]), np.float32([[0, 0, 5, 5]])]
    perfect = [(t, np.ones(len(t), np.float32)) for t in truth]
    assert average_precision(perfect, truth) == pytest.approx(1.0)
    # one image's boxes found with high scores, a confident false positive, the last box missed
    pred = [(np.float32([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]]), np.float32([0.9, 0.8, 0.95])),
            (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))]
    # ranked: FP (P=0), TP (R=1/3, P=1/2), TP (R=2/3, P=2/3) -> AP = 1/3 * 2/3 + 1/3 * 2/3
    assert average_precision(pred, truth) == pytest.approx(4 / 9)
    shifted = [(t + 4, np.ones(len(t), np.float32)) for t in truth]  # IoU < 0.5 everywhere
    assert average_precision(shifted, truth) == pytest.approx(0.0)
