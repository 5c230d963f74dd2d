"""Configuration of people counting (tracker, lines, zones) as pydantic models, embeddable in the edge YAML.

Every validation error names the line/zone and the offending value. Coordinates are pixels of the camera
frame; :meth:`CountingConfig.check_frame` checks them against the frame size once it is known.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.analytics.geometry import segments_intersect
from errors import SmartstoreError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Point = tuple[float, float]
Anchor = Literal["bottom_center", "center"]


class CountingConfigError(SmartstoreError, ValueError):
    """Lines or zones that cannot be used (a point outside the frame, a bad command-line value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackerConfig(_Strict):
    """ByteTrack thresholds. Defaults were tuned on TUD-Campus and TUD-Stadtmitte (see docs/counting.md)."""

    high_thresh: float = Field(default=0.4, gt=0, le=1, description="detections at or above start/continue tracks")
    low_thresh: float = Field(default=0.1, ge=0, le=1, description="detections between low and high only rescue tracks")
    new_track_thresh: float = Field(
        default=0.5, gt=0, le=1, description="an unmatched detection starts a track from here"
    )
    match_iou: float = Field(default=0.1, gt=0, le=1, description="min IoU (times score when fuse_score) for stage 1")
    low_match_iou: float = Field(default=0.5, gt=0, le=1, description="min IoU for the low-score stage")
    tentative_match_iou: float = Field(default=0.3, gt=0, le=1, description="min IoU to continue a tentative track")
    fuse_score: bool = Field(default=True, description="weight IoU by detection score in the high-score stages")
    lost_match_distance: float = Field(
        default=0.5, ge=0, description="re-find lost tracks by centre distance (in track heights; 0: off)"
    )
    min_hits: int = Field(default=1, ge=1, description="consecutive matches before a track is confirmed and gets an id")
    track_buffer_s: float = Field(default=2.0, gt=0, description="seconds a lost track is kept for re-identification")

    @model_validator(mode="after")
    def _order(self) -> TrackerConfig:
        if self.low_thresh > self.high_thresh:
            raise ValueError(f"low_thresh {self.low_thresh} is above high_thresh {self.high_thresh}")
        return self


def _fmt(points: list[Point] | tuple[Point, ...]) -> str:
    return ";".join(f"{x:g},{y:g}" for x, y in points)


class LineConfig(_Strict):
    """A directed counting line or polyline. ``in`` = crossing to the right-hand side of the drawing direction."""

    name: str = Field(pattern=NAME_PATTERN)
    points: list[Point] = Field(min_length=2)
    anchor: Anchor = "bottom_center"
    margin_px: float = Field(
        default=5.0, ge=0, description="hysteresis: half-width of the band where no side change counts"
    )
    margin_share: float = Field(
        default=0.1, ge=0, le=1,
        description="hysteresis band at least this share of the box height (times how horizontal the line is)",
    )

    @model_validator(mode="after")
    def _segments(self) -> LineConfig:
        for i, (a, b) in enumerate(zip(self.points, self.points[1:], strict=False)):
            if a == b:
                raise ValueError(f"line {self.name!r}: segment {i} from {a} to {b} has zero length")
        return self


class ZoneConfig(_Strict):
    """A polygon zone (``zone``: occupancy, visits, dwell) or a queue zone (``queue``: length, mean wait)."""

    name: str = Field(pattern=NAME_PATTERN)
    polygon: list[Point] = Field(min_length=3)
    kind: Literal["zone", "queue"] = "zone"
    anchor: Anchor = "bottom_center"
    margin_px: float = Field(default=5.0, ge=0, description="hysteresis band around the border")
    exit_after_s: float = Field(default=2.0, gt=0, description="a track unseen this long has left (closes its visit)")
    min_wait_s: float = Field(
        default=0.0, ge=0, description="queue: visits shorter than this are passers-by, not waits"
    )
    wait_window_s: float = Field(
        default=300.0, gt=0, description="queue: mean wait over visits that ended this recently"
    )

    @model_validator(mode="after")
    def _simple_polygon(self) -> ZoneConfig:
        pts = np.asarray(self.polygon, np.float64)
        shown = f"zone {self.name!r} polygon {_fmt(self.polygon)}"
        if len({tuple(p) for p in self.polygon}) != len(self.polygon):
            raise ValueError(f"{shown} repeats a point (degenerate)")
        nxt = np.roll(pts, -1, axis=0)
        n = len(pts)
        i, j = np.triu_indices(n, k=2)
        keep = ~((i == 0) & (j == n - 1))  # the last edge is adjacent to the first
        i, j = i[keep], j[keep]
        hit = segments_intersect(pts[i], nxt[i], pts[j], nxt[j])
        if hit.any():
            a, b = int(i[hit][0]), int(j[hit][0])
            raise ValueError(f"{shown} intersects itself (edge {a} crosses edge {b})")
        area = 0.5 * float(np.sum(pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]))
        if abs(area) < 1e-6:
            raise ValueError(f"{shown} has zero area (degenerate)")
        return self


class CountingConfig(_Strict):
    """Tracker, lines and zones of one camera, and the footfall intervals to aggregate over."""

    tracker: TrackerConfig = TrackerConfig()
    lines: list[LineConfig] = []
    zones: list[ZoneConfig] = []
    intervals_s: list[int] = Field(default_factory=lambda: [60, 3600])

    @field_validator("intervals_s")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if v <= 0]
        if bad:
            raise ValueError(f"interval {bad[0]} s must be positive")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> CountingConfig:
        names = [x.name for x in self.lines] + [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"line/zone name {dupes[0]!r} is used twice")
        return self

    def check_frame(self, width: int, height: int) -> None:
        """Raise :class:`CountingConfigError` (a ``ValueError``) naming the first line/zone point outside a
        ``width`` x ``height`` frame."""
        shapes = [("line", x.name, x.points) for x in self.lines] + [("zone", z.name, z.polygon) for z in self.zones]
        for what, name, points in shapes:
            for x, y in points:
                if not (0 <= x <= width and 0 <= y <= height):
                    raise CountingConfigError(f"{what} {name!r}: point ({x:g},{y:g}) is outside the "
                                              f"{width}x{height} frame")


_NAMED = re.compile(r"^\s*(?:(?P<name>[^=]+)=)?(?P<coords>.*)$")


def _numbers(text: str) -> list[float]:
    try:
        return [float(v) for v in re.split(r"[,;\s]+", text.strip()) if v]
    except ValueError:
        raise CountingConfigError(f"{text!r} is not a list of numbers") from None


def parse_line(text: str, default_name: str) -> LineConfig:
    """``[NAME=]x0,y0,x1,y1[,x2,y2...]`` (a command-line ``--line``) as a :class:`LineConfig`."""
    m = _NAMED.match(text)
    assert m is not None  # the pattern matches any string
    values = _numbers(m["coords"])
    if len(values) < 4 or len(values) % 2:
        raise CountingConfigError(f"line {text!r}: need x0,y0,x1,y1[,x2,y2...] (an even count of at least 4 numbers)")
    points = [(values[k], values[k + 1]) for k in range(0, len(values), 2)]
    return LineConfig(name=(m["name"] or default_name).strip(), points=points)


def parse_zone(text: str, default_name: str, kind: Literal["zone", "queue"] = "zone") -> ZoneConfig:
    """``[NAME=]x,y;x,y;x,y[;...]`` (a command-line ``--zone``/``--queue``) as a :class:`ZoneConfig`."""
    m = _NAMED.match(text)
    assert m is not None
    values = _numbers(m["coords"])
    if len(values) < 6 or len(values) % 2:
        raise CountingConfigError(f"zone {text!r}: need at least three x,y points separated by ';'")
    points = [(values[k], values[k + 1]) for k in range(0, len(values), 2)]
    return ZoneConfig(name=(m["name"] or default_name).strip(), polygon=points, kind=kind)
