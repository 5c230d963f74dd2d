"""Compose shelf scenes from real product photos, with exact YOLO boxes for ``product`` and ``gap``.

Sources (Grocery Store Dataset, MIT, ``../shared/data/grocery-store``):

- catalogue images (``iconic-images-and-descriptions/**/*_Iconic.jpg``): product on white, cut out by
  masking near-white pixels;
- in-store phone photos (``train/`` for training scenes, ``val/`` for held-out scenes): a central crop used as a
  rectangular product face (real lighting, glare and print), and, heavily blurred, as the shelf's back wall.

A scene is a shelf unit: back wall, 2-5 horizontal boards with price strips, products standing on each board
left to right (random SKU runs, i.e. facings), empty stretches labelled ``gap``, partial occluders (hands, price
tags, other photos), then global lighting (gain, colour cast, gradient, noise, blur) and a mild perspective
warp. Every box is computed from the warped outline of the pasted object, so labels are exact. Scenes are
deterministic: scene ``i`` of a split depends only on ``(seed, split, i)``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import yaml

log = logging.getLogger(__name__)

CLASSES = ("product", "gap")
PRODUCT, GAP = 0, 1
ImageU8 = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Sprite:
    """A product picture with its alpha mask (uint8 0/255) and the convex hull of the mask (x, y)."""

    image: ImageU8
    mask: ImageU8
    hull: Points


@dataclass(frozen=True, slots=True)
class Item:
    cls: int
    outline: Points  # (k, 2) points whose bounding box is the label, in scene pixels before the warp


def _hull(mask: ImageU8) -> Points:
    points = cv2.findNonZero(mask)
    if points is None:
        raise ValueError("empty mask")
    return cv2.convexHull(points).reshape(-1, 2).astype(np.float32)


def iconic_sprite(image: ImageU8) -> Sprite | None:
    """Cut the product out of a white catalogue background; None when nothing sensible remains."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    foreground = ((hsv[..., 2] < 235) | (hsv[..., 1] > 30)).astype(np.uint8) * 255
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground)
    if count < 2:
        return None
    keep = 1 + np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= 0.02 * foreground.size)
    mask = np.isin(labels, keep).astype(np.uint8) * 255
    if not mask.any():
        return None
    x, y, w, h = cv2.boundingRect(mask)
    image, mask = image[y : y + h, x : x + w], mask[y : y + h, x : x + w]
    mask = cv2.GaussianBlur(mask, (3, 3), 0)
    return Sprite(image, mask, _hull((mask > 127).astype(np.uint8)))


def photo_sprite(image: ImageU8, rng: np.random.Generator) -> Sprite:
    """A central crop of an in-store photo shaped like a package front (taller than wide)."""
    h, w = image.shape[:2]
    cw = int(w * rng.uniform(0.35, 0.6))
    ch = min(h, int(cw * rng.uniform(1.2, 2.2)))
    x = int((w - cw) * rng.uniform(0.3, 0.7))
    y = int((h - ch) * rng.uniform(0.2, 0.8))
    crop = np.ascontiguousarray(image[y : y + ch, x : x + cw])
    mask = np.full(crop.shape[:2], 255, np.uint8)
    return Sprite(crop, mask, _hull(mask))


def list_sources(root: Path, split: str) -> tuple[list[Path], list[Path]]:
    """(catalogue images, in-store photos of ``split``) under a grocery-store dataset root."""
    if not root.is_dir():
        raise FileNotFoundError(f"grocery-store dataset not found at {root}")
    iconic = sorted((root / "iconic-images-and-descriptions").rglob("*_Iconic.jpg"))
    photos = sorted((root / split).rglob("*.jpg"))
    if not iconic or not photos:
        raise FileNotFoundError(f"{root}: expected iconic-images-and-descriptions/**/*_Iconic.jpg and {split}/**/*.jpg")
    return iconic, photos


class Composer:
    """Draws shelf scenes from a fixed pool of sprites and wall photos."""

    def __init__(self, iconic: list[ImageU8], photos: list[ImageU8], size: tuple[int, int] = (640, 480)) -> None:
        self.size = size
        self.iconic = [s for s in (iconic_sprite(im) for im in iconic) if s is not None]
        self.photos = photos
        if not self.iconic or not self.photos:
            raise ValueError("no usable product images")

    def _sprite(self, rng: np.random.Generator) -> Sprite:
        if rng.random() < 0.55:
            return self.iconic[int(rng.integers(len(self.iconic)))]
        return photo_sprite(self.photos[int(rng.integers(len(self.photos)))], rng)

    def _wall(self, rng: np.random.Generator) -> ImageU8:
        w, h = self.size
        if rng.random() < 0.5:
            photo = self.photos[int(rng.integers(len(self.photos)))]
            wall = cv2.GaussianBlur(cv2.resize(photo, (w, h)), (0, 0), sigmaX=float(rng.uniform(12, 30)))
            return cv2.addWeighted(wall, 0.6, np.full_like(wall, int(rng.integers(60, 200))), 0.4, 0)
        base = rng.integers(40, 230, 3).astype(np.float32)
        noise = cv2.GaussianBlur(rng.normal(0, 12, (h, w, 1)).astype(np.float32), (0, 0), 3)
        return np.clip(base[None, None, :] + noise[..., None], 0, 255).astype(np.uint8)

    def compose(self, rng: np.random.Generator) -> tuple[ImageU8, list[Item]]:
        """One scene and its labelled items (outlines in scene pixels, before the final warp)."""
        w, h = self.size
        canvas = self._wall(rng)
        rows = int(rng.integers(2, 7))
        edges = np.linspace(h * rng.uniform(0.0, 0.08), h * rng.uniform(0.94, 1.0), rows + 1)
        board_colour = rng.integers(90, 250, 3)
        board_h = max(4, int((edges[1] - edges[0]) * rng.uniform(0.06, 0.12)))
        left, right = int(w * rng.uniform(0, 0.06)), int(w * rng.uniform(0.94, 1.0))
        items: list[Item] = []
        for top, bottom in itertools.pairwise(edges):
            floor = int(bottom) - board_h
            items += self._fill_row(canvas, rng, int(top), floor, left, right)
            cv2.rectangle(canvas, (0, floor), (w, int(bottom)), [int(c) for c in board_colour], -1)
            strip = rng.integers(150, 256, 3) if rng.random() < 0.7 else board_colour * 0.7
            cv2.rectangle(canvas, (0, floor + board_h // 3), (w, int(bottom)), [int(c) for c in strip], -1)
            for _ in range(int(rng.integers(0, 5))):
                tx = int(rng.integers(0, w - 30))
                cv2.rectangle(canvas, (tx, floor + board_h // 3), (tx + 24, int(bottom)), (255, 255, 255), -1)
        self._occlude(canvas, rng)
        canvas = self._light(canvas, rng)
        return self._warp(canvas, items, rng)

    def _fill_row(
        self, canvas: ImageU8, rng: np.random.Generator, top: int, floor: int, left: int, right: int
    ) -> list[Item]:
        row_h = floor - top
        items: list[Item] = []
        x = left + int(rng.integers(0, 20))
        scale = rng.uniform(0.55, 0.92)
        sprite, run = self._sprite(rng), 0
        gap_start: int | None = None
        while x < right - 10:
            if rng.random() < 0.12 and gap_start is None:  # an empty stretch: one to four facings wide
                gap_start = x
                x += int(row_h * scale * rng.uniform(0.5, 2.5))
                continue
            if run <= 0:
                sprite, run = self._sprite(rng), int(rng.integers(1, 6))
            run -= 1
            ph = int(row_h * scale * rng.uniform(0.95, 1.05))
            pw = max(6, int(ph * sprite.image.shape[1] / sprite.image.shape[0]))
            if x + pw > right:
                break
            if gap_start is not None:
                self._gap(items, gap_start, x, floor, int(row_h * scale), rng)
                gap_start = None
            self._paste(canvas, sprite, x, floor - ph, pw, ph)
            sx, sy = pw / sprite.image.shape[1], ph / sprite.image.shape[0]
            items.append(Item(PRODUCT, sprite.hull * np.float32([sx, sy]) + np.float32([x, floor - ph])))
            x += pw + int(rng.integers(-int(pw * 0.05) - 1, int(pw * 0.15) + 2))
        self._gap(items, x if gap_start is None else gap_start, right, floor, int(row_h * scale), rng)
        return items

    @staticmethod
    def _gap(items: list[Item], x0: int, x1: int, floor: int, height: int, rng: np.random.Generator) -> None:
        if x1 - x0 >= 0.5 * height:
            pad = int(rng.integers(0, 4))
            corners = np.float32([[x0 + pad, floor - height], [x1 - pad, floor], [x0 + pad, floor]])
            items.append(Item(GAP, corners))

    @staticmethod
    def _paste(canvas: ImageU8, sprite: Sprite, x: int, y: int, w: int, h: int) -> None:
        ch, cw = canvas.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
        if x1 <= x0 or y1 <= y0:
            return
        image = cv2.resize(sprite.image, (w, h), interpolation=cv2.INTER_AREA)[y0 - y : y1 - y, x0 - x : x1 - x]
        alpha = cv2.resize(sprite.mask, (w, h))[y0 - y : y1 - y, x0 - x : x1 - x, None].astype(np.float32) / 255
        region = canvas[y0:y1, x0:x1].astype(np.float32)
        canvas[y0:y1, x0:x1] = (alpha * image + (1 - alpha) * region).astype(np.uint8)

    def _occlude(self, canvas: ImageU8, rng: np.random.Generator) -> None:
        """Partial occluders: skin-toned blobs (hands/arms) and small shelf talkers."""
        h, w = canvas.shape[:2]
        for _ in range(int(rng.integers(0, 3))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(w // 40, w // 12)), int(rng.integers(h // 20, h // 6)))
            tone = (int(rng.integers(60, 140)), int(rng.integers(90, 170)), int(rng.integers(140, 230)))
            cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, tone, -1)
        for _ in range(int(rng.integers(0, 3))):
            x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 30))
            colour = [int(c) for c in rng.integers(0, 256, 3)]
            cv2.rectangle(canvas, (x, y), (x + int(rng.integers(15, 40)), y + int(rng.integers(10, 28))), colour, -1)

    @staticmethod
    def _light(canvas: ImageU8, rng: np.random.Generator) -> ImageU8:
        h, w = canvas.shape[:2]
        image = canvas.astype(np.float32)
        image *= rng.uniform(0.85, 1.15, 3).astype(np.float32)  # colour cast
        ramp = np.linspace(rng.uniform(0.6, 1.1), rng.uniform(0.8, 1.2), h if rng.random() < 0.5 else w)
        image *= (ramp[:, None, None] if len(ramp) == h else ramp[None, :, None]).astype(np.float32)
        image = (image - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-25, 25)
        image += rng.normal(0, rng.uniform(0, 6), image.shape).astype(np.float32)
        out = np.clip(image, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:
            out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 1.5)))
        return out

    @staticmethod
    def _warp(canvas: ImageU8, items: list[Item], rng: np.random.Generator) -> tuple[ImageU8, list[Item]]:
        h, w = canvas.shape[:2]
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + rng.uniform(-0.07, 0.07, (4, 2)).astype(np.float32) * np.float32([w, h])
        matrix = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(canvas, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        out = [Item(it.cls, cv2.perspectiveTransform(it.outline[None], matrix)[0]) for it in items]
        return warped, out


def yolo_labels(
    items: list[Item], size: tuple[int, int], min_visible: float = 0.5
) -> list[tuple[int, float, float, float, float]]:
    """``(cls, cx, cy, w, h)`` normalised, boxes clipped to the image; dropped when less than half stays inside."""
    w, h = size
    rows = []
    for item in items:
        x0, y0 = item.outline.min(axis=0)
        x1, y1 = item.outline.max(axis=0)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 <= cx0 or cy1 <= cy0 or (cx1 - cx0) * (cy1 - cy0) < min_visible * (x1 - x0) * (y1 - y0):
            continue
        rows.append((item.cls, (cx0 + cx1) / 2 / w, (cy0 + cy1) / 2 / h, (cx1 - cx0) / w, (cy1 - cy0) / h))
    return rows


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, {"train": 0, "val": 1}[split], index])


def _read(paths: list[Path]) -> list[ImageU8]:
    images = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"cannot read image {path}")
        images.append(image)
    return images


def build_dataset(
    source: Path, out: Path, n_train: int = 400, n_val: int = 100, seed: int = 0, size: tuple[int, int] = (640, 480)
) -> Path:
    """Write ``out/images/{train,val}``, ``out/labels/{train,val}`` and ``out/data.yaml``; returns data.yaml.

    Training scenes use in-store photos of the ``train`` split only, held-out scenes those of ``val``.
    """
    for split, count in (("train", n_train), ("val", n_val)):
        iconic, photos = list_sources(source, split)
        composer = Composer(_read(iconic), _read(photos), size)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image, items = composer.compose(scene_rng(seed, split, index))
            name = f"{split}_{index:05d}"
            cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            lines = [f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}" for c, x, y, bw, bh in yolo_labels(items, size)]
            (out / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        log.info("%s: %d scenes", split, count)
    data = {"path": str(out.resolve()), "train": "images/train", "val": "images/val", "names": dict(enumerate(CLASSES))}
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return out / "data.yaml"
