"""Shelf state: slots (polygons) with a planogram, per-frame facings/gaps/compliance, edge-triggered alerts.

Per frame, :class:`ShelfMonitor` takes recognised products (boxes + SKU), detected gaps and detected persons and
computes for every slot how much of it products cover (``fill``), which SKU it shows, and its state: ``occluded``
(a person hides it: never ``empty``), ``empty``, ``wrong`` (another known SKU than the planogram's), ``low`` or
``stocked``. Coverage is measured on a coarse raster of the slot polygons, so a frame costs a few array ops.

Alerts are edge-triggered with hysteresis (:class:`Debounce`): a slot must be seen empty, unoccluded, for
``out_of_stock_after_s`` (short non-empty blips are tolerated) to raise one ``shelf.out_of_stock``; only a slot
seen stocked without interruption for ``restock_after_s`` raises ``shelf.restocked``, so flicker never repeats an
alert. Occluded or ambiguous frames pause the timers. Snapshots come every ``snapshot_every_s``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.analytics.geometry import inside_polygon
from edge.analytics.sku import Gallery, GalleryError
from edge.models import Manifest
from edge.vision.detections import Detections, box_iou
from edge.yamlfile import read_mapping

SlotState = Literal["stocked", "low", "empty", "wrong", "occluded"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
GRID = 4  # pixels per raster cell of the slot map


class ShelfConfigError(ValueError):
    """A shelf config that cannot be used; the message names the file, field and value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    sku: str | None = None  # planogram: the SKU expected here (None: no expectation)
    polygon: list[tuple[float, float]] = Field(min_length=3)


class RowConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    slots: list[SlotConfig] = Field(min_length=1)


class ShelfConfig(_Strict):
    shelf: str = Field(pattern=NAME_PATTERN)
    rows: list[RowConfig] = Field(min_length=1)
    gallery: str | None = None  # .npz, relative to the config file
    detector: str = "shelf-products"
    embedder: str = "efficientnet-lite0"
    person_detector: str | None = "person-ssdlite"
    engine: str = "auto"  # every model's file: the one engine auto picks for this box, unless named
    precision: str | None = None
    product_score: float = Field(0.35, gt=0, lt=1)
    person_score: float = Field(0.5, gt=0, lt=1)
    empty_fill: float = Field(0.2, ge=0, le=1)  # product coverage below this: empty
    stocked_fill: float = Field(0.4, ge=0, le=1)  # at or above this: not empty (between: ambiguous, timers pause)
    low_fill: float = Field(0.6, ge=0, le=1)  # below this: low
    occluded_cover: float = Field(0.2, gt=0, le=1)  # a person box over this much of a slot: occluded
    out_of_stock_after_s: float = Field(10.0, ge=0)
    restock_after_s: float = Field(3.0, ge=0)
    violation_after_s: float = Field(10.0, ge=0)
    grace_s: float = Field(1.0, ge=0)  # opposite blips shorter than this do not reset a rising alert
    snapshot_every_s: float = Field(60.0, gt=0)
    max_dt_s: float = Field(2.0, gt=0)  # longest frame interval counted (a stalled source does not age alerts)
    cache_iou: float = Field(0.9, gt=0, le=1)  # a product box this close to last frame's reuses its SKU

    @model_validator(mode="after")
    def _check(self) -> ShelfConfig:
        if not self.empty_fill <= self.stocked_fill <= self.low_fill:
            raise ValueError(
                f"need empty_fill <= stocked_fill <= low_fill, got {self.empty_fill}, "
                f"{self.stocked_fill}, {self.low_fill}"
            )
        seen: dict[str, str] = {}
        for row in self.rows:
            for slot in row.slots:
                if slot.name in seen:
                    raise ValueError(
                        f"slot name {slot.name!r} is used twice (rows {seen[slot.name]!r} and {row.name!r})"
                    )
                seen[slot.name] = row.name
        SlotMap(self)  # raises on overlapping slots
        return self

    def slots(self) -> list[tuple[str, SlotConfig]]:
        """``(row name, slot)`` in config order."""
        return [(row.name, slot) for row in self.rows for slot in row.slots]

    def check_skus(self, known: list[str], source: str = "the gallery") -> None:
        """Refuse a planogram naming a SKU the gallery cannot recognise."""
        have = set(known)
        for i, row in enumerate(self.rows):
            for j, slot in enumerate(row.slots):
                if slot.sku is not None and slot.sku not in have:
                    sample = ", ".join(sorted(have)[:8]) + (", ..." if len(have) > 8 else "")
                    raise ShelfConfigError(
                        f"rows[{i}].slots[{j}].sku: unknown SKU {slot.sku!r} (slot {slot.name!r}); "
                        f"{source} has {len(have)} SKUs: {sample}"
                    )


def load_shelf_config(path: str | Path) -> ShelfConfig:
    path = Path(path)
    data = read_mapping(path, ShelfConfigError, "shelf config")
    try:
        return ShelfConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        value = f" (value {err['input']!r})" if where and "input" in err else ""
        raise ShelfConfigError(
            f"{path}: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}{value}"
        ) from None


class SlotMap:
    """The slots rasterised on a coarse grid: ``index[y, x]`` = slot number or -1, plus each slot's area."""

    def __init__(self, config: ShelfConfig) -> None:
        slots = config.slots()
        polygons = [np.asarray(s.polygon, np.float64) for _, s in slots]
        extent = np.max([p.max(axis=0) for p in polygons], axis=0)
        self.shape = (int(extent[1] // GRID) + 2, int(extent[0] // GRID) + 2)
        self.index = np.full(self.shape, -1, np.int32)
        self.area = np.zeros(len(slots), np.int64)
        ys, xs = np.mgrid[0 : self.shape[0], 0 : self.shape[1]]
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * GRID
        for i, polygon in enumerate(polygons):
            cells = inside_polygon(centres, polygon).reshape(self.shape)  # a cell belongs where its centre is
            self.area[i] = max(int(cells.sum()), 1)
            clash = self.index[cells]
            clash = clash[clash >= 0]
            if len(clash):
                other = int(np.bincount(clash).argmax())
                shared = int(np.count_nonzero(clash == other))
                smaller = min(self.area[i], self.area[other])
                if shared > 0.02 * smaller:
                    (row_a, a), (row_b, b) = slots[other], slots[i]
                    raise ValueError(
                        f"slots {a.name!r} (row {row_a!r}) and {b.name!r} (row {row_b!r}) overlap "
                        f"({100 * shared / smaller:.0f}% of the smaller one)"
                    )
            self.index[cells & (self.index < 0)] = i

    def coverage(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Fraction of each slot's area covered by the union of ``xyxy`` boxes."""
        covered = np.zeros(self.shape, bool)
        h, w = self.shape
        cells = np.round(np.asarray(xyxy, np.float64) / GRID).astype(np.int64)
        cells[:, 0::2] = np.clip(cells[:, 0::2], 0, w)
        cells[:, 1::2] = np.clip(cells[:, 1::2], 0, h)
        for x0, y0, x1, y1 in cells:
            covered[y0:y1, x0:x1] = True
        hits = self.index[covered & (self.index >= 0)]
        return np.bincount(hits, minlength=len(self.area)) / self.area

    def slot_of(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
        """Slot number of each point (x, y), -1 outside every slot."""
        h, w = self.shape
        cells = np.floor(np.asarray(points, np.float64) / GRID).astype(np.int64)
        inside = (cells[:, 0] >= 0) & (cells[:, 0] < w) & (cells[:, 1] >= 0) & (cells[:, 1] < h)
        out = np.full(len(cells), -1, np.int32)
        out[inside] = self.index[cells[inside, 1], cells[inside, 0]]
        return out


@dataclass(slots=True)
class Debounce:
    """Edge-triggered boolean with hysteresis over time.

    Inactive: raises once the condition has been observed true for ``on_s`` in total, forgiving false runs shorter
    than ``grace_s``. Active: clears once it has been observed false for ``off_s`` without a single true observation
    in between. ``None`` observations (occluded, ambiguous) pause both timers.
    """

    on_s: float
    off_s: float
    grace_s: float
    active: bool = False
    since: float | None = None  # when the condition began (of the current rising run)
    ended: float | None = None  # when the clearing run began
    _true_for: float = 0.0
    _false_for: float = 0.0

    def update(self, cond: bool | None, ts: float, dt: float) -> Literal["raised", "cleared"] | None:
        if cond is None:
            return None
        if not self.active:
            if cond:
                self.since = ts if self._true_for == 0.0 else self.since
                self._true_for += dt
                self._false_for = 0.0
                if self._true_for >= self.on_s:
                    self.active, self._true_for = True, 0.0
                    return "raised"
            else:
                self._false_for += dt
                if self._false_for >= self.grace_s:
                    self._true_for, self.since = 0.0, None
            return None
        if cond:
            self._false_for = 0.0
            return None
        if self._false_for == 0.0:
            self.ended = ts
        self._false_for += dt
        if self._false_for >= self.off_s:
            self.active, self._false_for = False, 0.0
            return "cleared"
        return None


@dataclass(frozen=True, slots=True)
class ShelfEvent:
    """An event payload: ``kind`` is one of the envelope's ``shelf.*`` kinds, ``data`` follows its schema."""

    kind: str
    data: dict[str, Any]
    ts: float


@dataclass(frozen=True, slots=True)
class SlotView:
    slot: str
    row: str
    state: SlotState
    expected_sku: str | None
    sku: str | None  # the SKU seen most in the slot (``unknown`` when products are there but none recognised)
    fill: float
    gap: float
    facings: int


@dataclass(frozen=True, slots=True)
class ShelfFrame:
    """One frame's shelf state and the events it raised."""

    ts: float
    slots: list[SlotView]
    facings: dict[str, dict[str, int]]  # row -> SKU -> count
    compliance: float | None  # correct slots / visible slots with a planogram SKU; None when none is visible
    events: list[ShelfEvent] = field(default_factory=list)

    @property
    def gaps(self) -> list[str]:
        return [s.slot for s in self.slots if s.state == "empty"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "compliance": self.compliance,
            "facings": self.facings,
            "gaps": self.gaps,
            "slots": [
                {
                    "slot": s.slot,
                    "row": s.row,
                    "state": s.state,
                    "sku": s.sku,
                    "expected_sku": s.expected_sku,
                    "fill": round(s.fill, 3),
                    "facings": s.facings,
                }
                for s in self.slots
            ],
            "events": [{"kind": e.kind, "data": e.data} for e in self.events],
        }


class ShelfMonitor:
    """Turns per-frame detections into slot states, facings, compliance and edge-triggered shelf events."""

    def __init__(self, config: ShelfConfig) -> None:
        self.config = config
        self.slots = config.slots()
        self.map = SlotMap(config)
        c = config
        self._stock = [Debounce(c.out_of_stock_after_s, c.restock_after_s, c.grace_s) for _ in self.slots]
        self._wrong = [Debounce(c.violation_after_s, c.restock_after_s, c.grace_s) for _ in self.slots]
        self._last_ts: float | None = None
        self._next_snapshot: float | None = None

    def update(
        self, products: Detections, skus: list[str], gaps: Detections, persons: Detections, ts: float
    ) -> ShelfFrame:
        """One frame: ``products`` with their recognised ``skus`` (``unknown`` allowed), ``gaps``, ``persons``."""
        if len(skus) != len(products):
            raise ValueError(f"{len(skus)} SKUs for {len(products)} products")
        c = self.config
        dt = 0.0 if self._last_ts is None else min(max(ts - self._last_ts, 0.0), c.max_dt_s)
        self._last_ts = ts
        fill = self.map.coverage(products.xyxy)
        gap = self.map.coverage(gaps.xyxy)
        hidden = self.map.coverage(persons.xyxy)
        where = self.map.slot_of(products.anchors("center"))
        views, events = [], []
        facings: dict[str, Counter[str]] = {row.name: Counter() for row in c.rows}
        correct = visible = 0
        for i, (row, slot) in enumerate(self.slots):
            seen = [skus[j] for j in np.flatnonzero(where == i)]
            facings[row].update(seen)
            known = Counter(s for s in seen if s != "unknown")
            observed = known.most_common(1)[0][0] if known else ("unknown" if seen else None)
            state = self._state(fill[i], gap[i], hidden[i], slot.sku, observed)
            empty = (
                None
                if state == "occluded"
                else (True if state == "empty" else False if fill[i] >= c.stocked_fill else None)
            )
            events += self._stock_events(i, row, slot, empty, fill[i], ts, dt)
            wrong = (
                None
                if state in ("occluded", "empty") or slot.sku is None or observed in (None, "unknown")
                else observed != slot.sku
            )
            if self._wrong[i].update(wrong, ts, dt) == "raised":
                events.append(
                    ShelfEvent(
                        "shelf.planogram_violation",
                        {
                            "shelf": c.shelf,
                            "row": row,
                            "slot": slot.name,
                            "expected_sku": slot.sku,
                            "observed_sku": observed,
                            "confidence": round(known[observed or ""] / len(seen), 3),
                        },
                        ts,
                    )
                )
            if state != "occluded" and slot.sku is not None:
                visible += 1
                correct += state in ("stocked", "low") and observed == slot.sku
            views.append(SlotView(slot.name, row, state, slot.sku, observed, float(fill[i]), float(gap[i]), len(seen)))
        frame = ShelfFrame(
            ts,
            views,
            {r: dict(sorted(f.items())) for r, f in facings.items()},
            round(correct / visible, 4) if visible else None,
            events,
        )
        if self._next_snapshot is None or ts >= self._next_snapshot:
            self._next_snapshot = ts + c.snapshot_every_s
            events.append(ShelfEvent("shelf.snapshot", snapshot_data(c.shelf, frame), ts))
        return frame

    def _state(self, fill: float, gap: float, hidden: float, expected: str | None, observed: str | None) -> SlotState:
        c = self.config
        if hidden >= c.occluded_cover:
            return "occluded"
        if fill < c.empty_fill or (gap >= 0.5 and fill < c.stocked_fill):
            return "empty"
        if expected is not None and observed not in (None, "unknown", expected):
            return "wrong"
        return "low" if fill < c.low_fill else "stocked"

    def _stock_events(
        self, i: int, row: str, slot: SlotConfig, empty: bool | None, fill: float, ts: float, dt: float
    ) -> list[ShelfEvent]:
        debounce = self._stock[i]
        change = debounce.update(empty, ts, dt)
        base = {"shelf": self.config.shelf, "row": row, "slot": slot.name, "sku": slot.sku}
        if change == "raised":
            return [ShelfEvent("shelf.out_of_stock", {**base, "confidence": round(1.0 - min(fill, 1.0), 3)}, ts)]
        if change == "cleared":
            empty_s = (debounce.ended or ts) - (debounce.since or ts)
            return [ShelfEvent("shelf.restocked", {**base, "empty_s": round(max(empty_s, 0.0), 3)}, ts)]
        return []


def snapshot_data(shelf: str, frame: ShelfFrame) -> dict[str, Any]:
    """``shelf.snapshot`` payload: every slot's state plus facings and compliance."""
    slots = [{key: value for key, value in row.items() if key != "facings"} | {"fill": min(row["fill"], 1.0)}
             for row in frame.to_dict()["slots"]]
    return {"shelf": shelf, "compliance": frame.compliance, "facings": frame.facings, "slots": slots}


class SkuCache:
    """Recognised products of recent frames: a box that barely moved and looks the same keeps its SKU.

    A hit needs IoU >= ``iou`` with a cached box and a mean absolute difference of their 8x8 grey thumbnails
    below ``max_diff`` (so a product swapped in place is embedded again). Entries unseen for ``ttl`` frames go.
    """

    def __init__(self, iou: float = 0.9, max_diff: float = 12.0, ttl: int = 10) -> None:
        self.iou, self.max_diff, self.ttl = iou, max_diff, ttl
        self.boxes = np.zeros((0, 4), np.float32)
        self.thumbs = np.zeros((0, 64), np.float32)
        self.skus: list[str] = []
        self.scores = np.zeros(0, np.float32)
        self.age = np.zeros(0, np.int64)

    @staticmethod
    def thumbnails(gray: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        h, w = gray.shape[:2]
        out = np.zeros((len(xyxy), 64), np.float32)
        for i, (x0, y0, x1, y1) in enumerate(np.round(xyxy).astype(np.int64)):
            crop = gray[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
            if crop.size:
                out[i] = cv2.resize(crop, (8, 8), interpolation=cv2.INTER_AREA).reshape(-1)
        return out

    def lookup(self, xyxy: npt.NDArray[np.float32], thumbs: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Index of the cached entry each box reuses, -1 for a miss."""
        if not len(self.boxes) or not len(xyxy):
            return np.full(len(xyxy), -1, np.int64)
        iou = box_iou(xyxy, self.boxes)
        best = iou.argmax(axis=1)
        diff = np.abs(thumbs - self.thumbs[best]).mean(axis=1)
        hit = (iou[np.arange(len(xyxy)), best] >= self.iou) & (diff < self.max_diff)
        return np.where(hit, best, -1)

    def store(
        self,
        xyxy: npt.NDArray[np.float32],
        thumbs: npt.NDArray[np.float32],
        skus: list[str],
        scores: npt.NDArray[np.float32],
        reused: npt.NDArray[np.int64],
    ) -> None:
        """Replace the cache with this frame's products plus older entries not seen again (aged)."""
        stale = np.setdiff1d(np.arange(len(self.boxes)), reused[reused >= 0])
        stale = stale[self.age[stale] + 1 < self.ttl]
        self.boxes = np.concatenate([xyxy, self.boxes[stale]]).astype(np.float32)
        self.thumbs = np.concatenate([thumbs, self.thumbs[stale]]).astype(np.float32)
        self.skus = list(skus) + [self.skus[i] for i in stale]
        self.scores = np.concatenate([scores, self.scores[stale]]).astype(np.float32)
        self.age = np.concatenate([np.zeros(len(xyxy), np.int64), self.age[stale] + 1])


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

    def __init__(
        self, config: ShelfConfig, base_dir: Path = Path("."), gallery: Gallery | None = None, **engine_options: Any
    ) -> None:
        from edge.analytics.sku import Embedder
        from edge.detector import Detector

        c = config
        if gallery is None:
            if c.gallery is None:
                raise ShelfConfigError("gallery: no gallery given (set 'gallery: FILE.npz' in the shelf config)")
            path = Path(c.gallery) if Path(c.gallery).is_absolute() else base_dir / c.gallery
            gallery = Gallery.load(path)
            c.check_skus(gallery.skus, f"gallery {path}")
        else:
            c.check_skus(gallery.skus)
        self.config, self.gallery = c, gallery
        self.detector = Detector.from_manifest(
            c.detector, c.engine, c.precision, conf=min(c.product_score, 0.25), **engine_options
        )
        self.product_id, self.gap_id = self.detector.class_id("product"), self.detector.class_id("gap")
        self.embedder = Embedder(c.embedder, c.engine, c.precision, **engine_options)
        if gallery.embedder and gallery.embedder != self.embedder.name:
            raise GalleryError(
                f"the gallery was enrolled with {gallery.embedder}, the shelf uses "
                f"{self.embedder.name}: enroll it again with the same embedder"
            )
        self.persons = None
        if c.person_detector is not None:
            manifest = Manifest.load(c.person_detector)
            precision = c.precision if any(p == c.precision for _, p in manifest.variants()) else None
            person = manifest.class_id("person")
            self.persons = Detector.from_manifest(
                c.person_detector, c.engine, precision, conf=c.person_score, classes=[person], **engine_options
            )
        self.monitor = ShelfMonitor(c)
        self.cache = SkuCache(c.cache_iou)

    def __call__(self, image: npt.NDArray[np.uint8], ts: float, persons: Detections | None = None) -> ShelfResult:
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
        t3 = time.perf_counter()
        frame = self.monitor.update(products, skus, gaps, persons, ts)
        t4 = time.perf_counter()
        ms = {"detect": t1 - t0, "persons": t2 - t1, "recognise": t3 - t2, "state": t4 - t3, "total": t4 - t0}
        return ShelfResult(
            frame, products, skus, scores, gaps, persons, len(miss), {k: round(v * 1000, 2) for k, v in ms.items()}
        )


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
STATE_COLOURS = {
    "stocked": (0, 200, 0),
    "low": (0, 200, 255),
    "empty": (0, 0, 255),
    "wrong": (255, 0, 255),
    "occluded": (160, 160, 160),
}


def read_frames(path: Path) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
    """``(ts seconds, BGR frame)`` of an image (one frame at 0 s) or a video (timestamps from its frame rate)."""
    if not path.is_file():
        raise ShelfConfigError(f"{path} does not exist")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path))
        if image is None:
            raise ShelfConfigError(f"cannot read image {path}")
        yield 0.0, np.asarray(image, np.uint8)
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ShelfConfigError(f"cannot open video {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield index / fps, np.asarray(frame, np.uint8)
            index += 1
    finally:
        cap.release()


def draw(image: npt.NDArray[np.uint8], result: ShelfResult, config: ShelfConfig) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with slots (coloured by state), products (with SKU), gaps and persons drawn on it."""
    out = image.copy()
    states = {s.slot: s.state for s in result.frame.slots}
    for _, slot in config.slots():
        colour = STATE_COLOURS[states[slot.name]]
        polygon = np.round(np.asarray(slot.polygon)).astype(np.int32)
        cv2.polylines(out, [polygon], True, colour, 2)
        x, y = polygon.min(axis=0)
        cv2.putText(
            out,
            f"{slot.name}:{states[slot.name]}",
            (int(x) + 3, int(y) + 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    for box, sku in zip(np.round(result.products.xyxy).astype(int), result.skus, strict=True):
        cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), (0, 255, 0), 1)
        cv2.putText(
            out,
            sku[:14],
            (int(box[0]), int(box[3]) - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    for box in np.round(result.gaps.xyxy).astype(int):
        cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), (0, 0, 255), 2)
    for box in np.round(result.persons.xyxy).astype(int):
        cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), (255, 128, 0), 2)
    return out
