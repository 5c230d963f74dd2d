"""The SKU cache: unchanged products are not embedded again; moved or swapped ones are."""

from __future__ import annotations

import numpy as np

from edge.analytics.sku_cache import SkuCache


def shelf_image(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A grey image with ten 'products' (coarse block prints) and their boxes."""
    rng = np.random.default_rng(seed)
    image = np.full((200, 600), 90, np.uint8)
    boxes = []
    for i in range(10):
        x0 = 10 + 58 * i
        pattern = rng.integers(0, 255, (7, 5), dtype=np.uint8)  # a coarse print: blocks of 20x10 pixels
        image[40:180, x0 : x0 + 50] = np.kron(pattern, np.ones((20, 10), np.uint8))
        boxes.append([x0, 40, x0 + 50, 180])
    return image, np.float32(boxes)


def test_static_products_hit_the_cache() -> None:
    image, boxes = shelf_image()
    cache = SkuCache(iou=0.9)
    thumbs = SkuCache.thumbnails(image, boxes)
    assert (cache.lookup(boxes, thumbs) == -1).all()  # empty cache: all miss
    skus = [f"sku-{i}" for i in range(10)]
    cache.store(boxes, thumbs, skus, np.ones(10, np.float32), np.full(10, -1))
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 2, image.shape), 0, 255).astype(np.uint8)
    jitter = boxes + np.random.default_rng(2).uniform(-1, 1, boxes.shape).astype(np.float32)
    reused = cache.lookup(jitter, SkuCache.thumbnails(noisy, jitter))
    assert [cache.skus[j] for j in reused] == skus


def test_moved_or_swapped_products_miss() -> None:
    image, boxes = shelf_image()
    cache = SkuCache(iou=0.9)
    thumbs = SkuCache.thumbnails(image, boxes)
    cache.store(boxes, thumbs, [f"sku-{i}" for i in range(10)], np.ones(10, np.float32), np.full(10, -1))
    other, _ = shelf_image(seed=5)  # same boxes, other products in them
    swapped = image.copy()
    swapped[:, :68] = other[:, :68]  # product 0 replaced in place
    moved = boxes.copy()
    moved[3] += np.float32([20, 0, 20, 0])  # product 3 shifted by 40% of its width
    reused = cache.lookup(moved, SkuCache.thumbnails(swapped, moved))
    assert reused[0] == -1 and reused[3] == -1
    assert (reused[[1, 2, 4, 5, 6, 7, 8, 9]] >= 0).all()


def test_entries_unseen_for_ttl_frames_expire() -> None:
    image, boxes = shelf_image()
    cache = SkuCache(iou=0.9, ttl=3)
    thumbs = SkuCache.thumbnails(image, boxes)
    cache.store(boxes, thumbs, [f"sku-{i}" for i in range(10)], np.ones(10, np.float32), np.full(10, -1))
    empty = np.zeros((0, 4), np.float32)
    for _ in range(2):  # a person hides the shelf for two frames
        cache.store(empty, np.zeros((0, 64), np.float32), [], np.zeros(0, np.float32), np.zeros(0, np.int64))
    assert (cache.lookup(boxes, thumbs) >= 0).all()
    cache.store(empty, np.zeros((0, 64), np.float32), [], np.zeros(0, np.float32), np.zeros(0, np.int64))
    assert len(cache.boxes) == 0
