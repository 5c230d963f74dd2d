"""The shelf pipeline: frame -> products and gaps (and persons) -> SKUs (cache, embedder, gallery) -> shelf state.

:class:`ShelfPipeline` takes its models built (the wiring loads them: :func:`edge.shelf_loader.load_shelf_pipeline`),
so this module holds no model loading. The parts: :mod:`~edge.analytics.shelf_config` (config),
:mod:`~edge.analytics.slots` (slot raster), :mod:`~edge.analytics.debounce` (alert timers),
:mod:`~edge.analytics.shelf_monitor` (slot states, facings, compliance, events), :mod:`~edge.analytics.sku_cache`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.analytics.shelf_config import ShelfConfig
from edge.analytics.shelf_monitor import ShelfFrame, ShelfMonitor
from edge.analytics.sku import Gallery
from edge.analytics.sku_cache import SkuCache
from edge.vision.detections import Detections

Image = npt.NDArray[np.uint8]


class ProductDetector(Protocol):
    """A detector with ``product`` and ``gap`` classes (:class:`edge.detector.Detector`)."""

    def __call__(self, image: Image, /) -> Detections: ...

    def class_id(self, label: str, /) -> int: ...


class CropEmbedder(Protocol):
    """Crops in, one L2-normalised embedding per crop out (:class:`edge.analytics.sku.Embedder`)."""

    def embed(self, crops: Sequence[Image], /) -> npt.NDArray[np.float32]: ...


class PersonDetector(Protocol):
    def __call__(self, image: Image, /) -> Detections: ...


@dataclass(frozen=True, slots=True)
class ShelfResult:
    """One processed frame: the shelf state, what was detected, and where the time went."""

    frame: ShelfFrame
    products: Detections
    skus: list[str]
    sku_scores: npt.NDArray[np.float32]
    gaps: Detections
    persons: Detections
    embedded: int  # crops embedded this frame (the rest came from the cache)
    ms: dict[str, float]


class ShelfPipeline:
    """Frame -> detect products/gaps (and persons) -> embed new crops -> match the gallery -> shelf state."""

    def __init__(self, config: ShelfConfig, detector: ProductDetector, embedder: CropEmbedder, gallery: Gallery,
                 persons: PersonDetector | None = None) -> None:
        self.config, self.gallery = config, gallery
        self.detector, self.embedder, self.persons = detector, embedder, persons
        self.product_id, self.gap_id = detector.class_id("product"), detector.class_id("gap")
        self.monitor = ShelfMonitor(config)
        self.cache = SkuCache(config.cache_iou)

    def __call__(self, image: Image, ts: float, persons: Detections | None = None) -> ShelfResult:
        """One frame; ``persons`` already detected on it (the edge service's person model) skips our own."""
        c = self.config
        t0 = time.perf_counter()
        found = self.detector(image)
        products = found[(found.class_id == self.product_id) & (found.score >= c.product_score)]
        gaps = found[(found.class_id == self.gap_id) & (found.score >= c.product_score)]
        t1 = time.perf_counter()
        if persons is None:
            persons = self.persons(image) if self.persons is not None else Detections.empty()
        t2 = time.perf_counter()
        skus, scores, embedded = self._recognise(image, products)
        t3 = time.perf_counter()
        frame = self.monitor.update(products, skus, gaps, persons, ts)
        t4 = time.perf_counter()
        ms = {"detect": t1 - t0, "persons": t2 - t1, "recognise": t3 - t2, "state": t4 - t3, "total": t4 - t0}
        return ShelfResult(
            frame, products, skus, scores, gaps, persons, embedded, {k: round(v * 1000, 2) for k, v in ms.items()}
        )

    def _recognise(self, image: Image, products: Detections) -> tuple[list[str], npt.NDArray[np.float32], int]:
        """SKU and score of each product (cached where the box and its look did not change); crops embedded."""
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
        thumbs = SkuCache.thumbnails(gray, products.xyxy)
        reused = self.cache.lookup(products.xyxy, thumbs)
        skus = [self.cache.skus[j] if j >= 0 else "" for j in reused]
        scores = np.array([self.cache.scores[j] if j >= 0 else 0.0 for j in reused], np.float32)
        miss = np.flatnonzero(reused < 0)
        if len(miss):
            h, w = image.shape[:2]
            boxes = np.round(products.xyxy[miss]).astype(np.int64)
            crops = [
                image[max(y0, 0) : min(max(y1, y0 + 1), h), max(x0, 0) : min(max(x1, x0 + 1), w)]
                for x0, y0, x1, y1 in boxes
            ]
            for i, match in zip(miss, self.gallery.match(self.embedder.embed(crops), k=1), strict=True):
                skus[i], scores[i] = match.sku, match.score
        self.cache.store(products.xyxy, thumbs, skus, scores, reused)
        return skus, scores, len(miss)
