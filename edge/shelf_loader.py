"""The shelf path's wiring: the gallery, the product/gap detector, the embedder and (optionally) the person
detector of a shelf config, built into a :class:`~edge.analytics.shelf.ShelfPipeline`; and the pipeline run over a
file's frames (``smartstore shelf``).

Used by ``smartstore shelf``, the edge service (cameras with a ``shelf:`` section) and ``bench/shelf_speed.py``.
Errors: :class:`ShelfConfigError` (no gallery given, a planogram SKU the gallery does not know),
:class:`GalleryError`, :class:`~edge.models.ModelError`, :class:`~edge.engines.base.EngineError`,
:class:`~edge.detect.InputError` (a file that cannot be read).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.analytics.shelf import Image, ShelfPipeline, ShelfResult
from edge.analytics.shelf_config import ShelfConfig, ShelfConfigError
from edge.analytics.sku import Embedder, Gallery, GalleryError
from edge.detect import InputError, read_frames, video_fps
from edge.detector import Detector
from edge.models import Manifest


def shelf_errors() -> tuple[type[Exception], ...]:
    """What loading a shelf pipeline (or reading its frames) raises for a config, gallery, model or file the user
    can fix."""
    from edge.engines.base import EngineError
    from edge.models import ModelError

    return ShelfConfigError, GalleryError, ModelError, EngineError, InputError


def load_gallery(config: ShelfConfig, base_dir: Path = Path(".")) -> Gallery:
    """The config's gallery (relative to ``base_dir``), checked against the planogram's SKUs."""
    if config.gallery is None:
        raise ShelfConfigError("gallery: no gallery given (set 'gallery: FILE.npz' in the shelf config)")
    path = Path(config.gallery) if Path(config.gallery).is_absolute() else base_dir / config.gallery
    gallery = Gallery.load(path)
    config.check_skus(gallery.skus, f"gallery {path}")
    return gallery


def load_shelf_pipeline(
    config: ShelfConfig, base_dir: Path = Path("."), gallery: Gallery | None = None, **engine_options: Any
) -> ShelfPipeline:
    """The pipeline of ``config`` with every model loaded: the file ``engine: auto`` picks unless the config names
    an engine or precision. ``gallery`` given: used instead of the config's file (its SKUs still checked)."""
    c = config
    if gallery is None:
        gallery = load_gallery(c, base_dir)
    else:
        c.check_skus(gallery.skus)
    detector = Detector.from_manifest(
        c.detector, c.engine, c.precision, conf=min(c.product_score, 0.25), **engine_options
    )
    embedder = Embedder(c.embedder, c.engine, c.precision, **engine_options)
    if gallery.embedder and gallery.embedder != embedder.name:
        raise GalleryError(
            f"the gallery was enrolled with {gallery.embedder}, the shelf uses "
            f"{embedder.name}: enroll it again with the same embedder"
        )
    persons = None
    if c.person_detector is not None:
        manifest = Manifest.load(c.person_detector)
        precision = c.precision if any(p == c.precision for _, p in manifest.variants()) else None
        person = manifest.class_id("person")
        persons = Detector.from_manifest(
            c.person_detector, c.engine, precision, conf=c.person_score, classes=[person], **engine_options
        )
    return ShelfPipeline(c, detector, embedder, gallery, persons)


def shelf_frames(pipeline: ShelfPipeline, path: Path) -> Iterator[tuple[Image, ShelfResult]]:
    """``(frame, result)`` of the pipeline over an image (one frame at 0 s) or a video (timestamps from its frame
    rate, 10 fps when the container does not say). Raises :class:`~edge.detect.InputError` for an unreadable file."""
    fps = video_fps(path) or 10.0
    for index, image in read_frames(path):
        yield image, pipeline(image, index / fps)
