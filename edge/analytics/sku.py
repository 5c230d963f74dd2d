"""SKU recognition: a gallery of L2-normalised embeddings per SKU, cosine k-NN matching, ``unknown`` below a threshold.

New SKUs are enrolled by embedding one or a few images and appending the rows (no retraining). The parts:
:mod:`edge.analytics.gallery` (the gallery file, matching, threshold calibration, projections) and
:mod:`edge.analytics.embedder` (the embedding model, enrolling folders of images). This module is their one
import path (``from edge.analytics.sku import Embedder, Gallery``).
"""

from __future__ import annotations

from edge.analytics.embedder import IMAGE_SUFFIXES, Embedder, ImageU8, enroll_folder, image_paths, labelled_images
from edge.analytics.gallery import (
    UNKNOWN,
    Gallery,
    GalleryError,
    Match,
    calibrate_threshold,
    default_projection,
    l2_normalise,
    load_projection,
    save_projection,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "UNKNOWN",
    "Embedder",
    "Gallery",
    "GalleryError",
    "ImageU8",
    "Match",
    "calibrate_threshold",
    "default_projection",
    "enroll_folder",
    "image_paths",
    "l2_normalise",
    "labelled_images",
    "load_projection",
    "save_projection",
]
