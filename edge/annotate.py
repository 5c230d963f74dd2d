"""Drawing for the CLIs' annotated outputs: detections (``detect --annotate``), tracks with lines and zones
(``track --save-video``) and shelf state (``shelf --save-video``). Copies are drawn on; the input is untouched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.detections import Detections

if TYPE_CHECKING:
    from edge.analytics.counting import PeopleCounter
    from edge.analytics.shelf import ShelfResult
    from edge.analytics.shelf_config import ShelfConfig

Image = npt.NDArray[Any]  # HxWx3 uint8 BGR
Colour = tuple[int, int, int]
FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN: Colour = (0, 200, 0)
ZONE: Colour = (200, 120, 0)
LINE: Colour = (0, 0, 230)
STATE_COLOURS: dict[str, Colour] = {
    "stocked": (0, 200, 0),
    "low": (0, 200, 255),
    "empty": (0, 0, 255),
    "wrong": (255, 0, 255),
    "occluded": (160, 160, 160),
}


def text(out: Image, label: str, xy: tuple[int, int], colour: Colour, scale: float = 0.5, smooth: bool = False) -> None:
    cv2.putText(out, label, (int(xy[0]), int(xy[1])), FONT, scale, colour, 1, cv2.LINE_AA if smooth else cv2.LINE_8)


def labelled_box(out: Image, box: Sequence[int], label: str, colour: Colour = GREEN, scale: float = 0.5) -> None:
    """A box (2 px) with its label just above it."""
    x1, y1, x2, y2 = (int(v) for v in box)
    cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
    text(out, label, (x1, max(y1 - 4, 10)), colour, scale)


def rectangles(out: Image, xyxy: npt.ArrayLike, colour: Colour, thickness: int = 2) -> None:
    for box in np.round(np.asarray(xyxy)).astype(int):
        cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), colour, thickness)


def outline(out: Image, points: npt.ArrayLike, colour: Colour, closed: bool = True) -> None:
    cv2.polylines(out, [np.asarray(points).astype(np.int32)], closed, colour, 2)


def draw_detections(frame: Image, dets: Detections, labels: Sequence[str]) -> Image:
    """A copy of ``frame`` with boxes, labels and scores drawn."""
    out = frame.copy()
    for box, score, cid in zip(dets.xyxy.astype(int), dets.score, dets.class_id, strict=True):
        name = labels[cid] if 0 <= cid < len(labels) else str(cid)
        labelled_box(out, box, f"{name} {score:.2f}", scale=0.45)
    return out


def pixelate(image: Image, boxes: np.ndarray) -> None:
    """Pixelate each ``xyxy`` box of ``image`` in place, rounded outwards: blocks of an eighth of the box's shorter
    side (at least 4 px), so a face or a name badge inside a person's box is a few flat blocks."""
    h, w = image.shape[:2]
    limits = np.array([w, h, w, h])
    for x1, y1, x2, y2 in np.clip(np.concatenate([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])], axis=1), 0,
                                  limits).astype(int):
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        block = max(4, min(x2 - x1, y2 - y1) // 8)
        small = cv2.resize(image[y1:y2, x1:x2], (max(1, (x2 - x1) // block), max(1, (y2 - y1) // block)),
                           interpolation=cv2.INTER_AREA)
        image[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)


def draw_tracks(frame: Image, tracks: Detections, counter: PeopleCounter, hide: Detections | None = None) -> Image:
    """A copy of ``frame`` with ``hide``'s boxes pixelated (every person the detector saw, tracked or not), the
    tracked people and their ids, the lines with counts and the zones."""
    out = frame.copy()
    if hide is not None and len(hide):
        pixelate(out, np.concatenate([hide.xyxy, tracks.xyxy]))
    h, w = out.shape[:2]
    boxes = np.clip(tracks.xyxy, 0, [w, h, w, h]).astype(int)
    for (x1, y1, x2, y2), tid in zip(boxes, tracks.track_id if tracks.track_id is not None else [], strict=False):
        labelled_box(out, (x1, y1, x2, y2), str(tid))
    for zone in counter.zones:
        outline(out, zone.polygon, ZONE)
        x, y = zone.polygon[0].astype(int)
        text(out, f"{zone.name}: {zone.occupancy}", (x + 4, y + 16), ZONE)
    for line in counter.lines:
        outline(out, line.points, LINE, closed=False)
        x, y = line.points[0].astype(int)
        text(out, f"{line.name} in {line.count_in} out {line.count_out}", (x + 4, max(y - 6, 12)), LINE)
    return out


def draw_shelf(image: Image, result: ShelfResult, config: ShelfConfig) -> Image:
    """A copy of ``image`` with slots (coloured by state), products (with SKU), gaps and persons drawn on it."""
    out = image.copy()
    states = {s.slot: s.state for s in result.frame.slots}
    for _, slot in config.slots():
        colour = STATE_COLOURS[states[slot.name]]
        polygon = np.round(np.asarray(slot.polygon)).astype(np.int32)
        outline(out, polygon, colour)
        x, y = polygon.min(axis=0)
        text(out, f"{slot.name}:{states[slot.name]}", (int(x) + 3, int(y) + 14), colour, 0.45, smooth=True)
    for box, sku in zip(np.round(result.products.xyxy).astype(int), result.skus, strict=True):
        cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), (0, 255, 0), 1)
        text(out, sku[:14], (int(box[0]), int(box[3]) - 3), (255, 255, 255), 0.35, smooth=True)
    rectangles(out, result.gaps.xyxy, (0, 0, 255))
    rectangles(out, result.persons.xyxy, (255, 128, 0))
    return out
