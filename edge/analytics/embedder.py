"""SKU enrolment: an ``embed`` model turns image crops into L2-normalised embeddings (:class:`Embedder`); new SKUs
are enrolled by embedding one or a few images per SKU folder and appending the rows to a gallery (no retraining).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.analytics.gallery import Gallery, GalleryError, l2_normalise
from edge.models import Manifest, choose_file
from edge.vision.detections import FloatArray

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
ImageU8 = npt.NDArray[np.uint8]


def labelled_images(root: str | Path) -> list[tuple[str, Path]]:
    """``(sku, image path)`` for every image under ``root``: the SKU is the name of the folder holding the image."""
    root = Path(root)
    if not root.is_dir():
        raise GalleryError(f"{root} is not a folder (expected one sub-folder of images per SKU)")
    owners: dict[str, Path] = {}
    items = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        sku = path.parent.name if path.parent != root else ""
        if not sku:
            raise GalleryError(f"{path}: images must sit in a folder named after their SKU, not in {root} itself")
        if owners.setdefault(sku, path.parent) != path.parent:
            raise GalleryError(f"SKU {sku!r} appears in two folders: {owners[sku]} and {path.parent}")
        items.append((sku, path))
    if not items:
        raise GalleryError(f"{root}: no images found (expected {root}/<SKU>/*.jpg)")
    return items


class Embedder:
    """Image crops -> L2-normalised embeddings with an ``embed`` model from ``models/`` on one engine."""

    def __init__(
        self,
        model: str | Path = "efficientnet-lite0",
        engine: str = "auto",
        precision: str | None = None,
        **engine_options: Any,
    ) -> None:
        from edge.engines.base import create

        self.manifest = Manifest.load(model)
        if self.manifest.task != "embed":
            raise GalleryError(f"model {self.manifest.name!r} is a {self.manifest.task} model, not an embedder")
        item, implied = choose_file(self.manifest, engine, precision, engine_options.pop("device", None))
        self.manifest.verify_file(item)
        engine_options = implied | engine_options
        self.engine = create(item.engine, self.manifest.path_of(item), **engine_options)
        self.name = f"{self.manifest.name}/{item.engine}/{item.precision}"
        spec = self.manifest.input
        self._size = (spec.width, spec.height)
        self._fused = self.engine.fuse_preprocess(
            spec.width, spec.height, spec.color == "RGB", spec.mean, spec.std, spec.layout
        )
        self._mean = np.asarray(spec.mean, np.float32)
        self._std = np.asarray(spec.std, np.float32)

    def _tensor(self, crop: ImageU8) -> npt.NDArray[Any]:
        import cv2

        image = cv2.resize(crop, self._size, interpolation=cv2.INTER_AREA)
        if self._fused:
            return np.ascontiguousarray(image[None])
        spec = self.manifest.input
        if spec.color == "RGB":
            image = image[..., ::-1]
        x = (image.astype(np.float32) - self._mean) / self._std
        if spec.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None], dtype=np.float32)

    def embed(self, crops: Iterable[ImageU8]) -> FloatArray:
        """(n, d) L2-normalised embeddings of BGR crops, pipelined over the engine's in-flight requests."""
        rows = [
            out[0].reshape(-1) for _, out in self.engine.infer_stream((i, self._tensor(c)) for i, c in enumerate(crops))
        ]
        if not rows:
            return np.zeros((0, 0), np.float32)
        return l2_normalise(np.stack(rows))

    def embed_files(self, paths: Sequence[Path]) -> FloatArray:
        import cv2

        images: list[ImageU8] = []
        for path in paths:
            image = cv2.imread(str(path))
            if image is None:
                raise GalleryError(f"cannot read image {path}")
            images.append(np.asarray(image, np.uint8))
        return self.embed(images)


def enroll_folder(
    root: str | Path,
    embedder: Embedder,
    gallery: Gallery | None = None,
    projection: tuple[FloatArray, FloatArray] | None = None,
) -> Gallery:
    """Enroll every ``root/<SKU>/*.jpg`` into ``gallery`` (a new one, with ``projection``, when None)."""
    items = labelled_images(root)
    if gallery is None:
        gallery = Gallery(
            np.zeros((0, 0), np.float32), np.zeros(0, np.str_), embedder=embedder.name, projection=projection
        )
    elif gallery.embedder and gallery.embedder != embedder.name:
        raise GalleryError(f"gallery was built with {gallery.embedder}, not {embedder.name}")
    vectors = embedder.embed_files([p for _, p in items])
    skus = np.array([s for s, _ in items])
    for sku in dict.fromkeys(skus.tolist()):
        gallery.enroll(sku, vectors[skus == sku])
    return gallery


def image_paths(items: Sequence[str | Path]) -> list[Path]:
    """Images named directly or found (recursively) under the folders named."""
    out: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise GalleryError(f"{item}: no images found")
            out += found
        elif item.is_file():
            out.append(item)
        else:
            raise GalleryError(f"{item} does not exist")
    return out
