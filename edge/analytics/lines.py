"""Directed counting lines: each track counts once per real crossing of its anchor point, with hysteresis.

A track's side of the line is *committed* only when its anchor is further from the line than the band's
half-width, ``margin_px`` or ``margin_share`` of the box's height times how horizontal the line is, whichever is
wider; inside that band nothing changes, so feet jittering on the line never count. A box's bottom edge jumps
with the person's height when legs are hidden, then seen: a 200 px tall person standing on a horizontal line
moves it by 20 px without taking a step (a vertical line sees the box centre, which moves far less).
A crossing is counted when the committed side flips and the path from the last committed point to the new one
actually passes through the line (walking around the end of a short line is not a crossing). Walking in and back
out counts one ``in`` and one ``out``: what happened. ``in`` is a crossing onto the right-hand side of the line's
drawing direction as seen on screen (drawn left to right, ``in`` is walking down the image); reverse the points
to flip it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from edge.analytics.config import LineConfig
from edge.analytics.geometry import paths_cross_polyline, polyline_signed_distance
from edge.analytics.state import TrackTable
from edge.vision.detections import Detections


def tracked(tracks: Detections, counter: str) -> Detections:
    """The boxes that have a track id: ``track_id`` None is the caller's mistake (``ValueError`` naming
    ``counter``); ids below 0 (tentative or untracked boxes) cannot be followed from frame to frame and are
    skipped, since keyed by id they would all be one person."""
    if not len(tracks):
        return tracks
    if tracks.track_id is None:
        raise ValueError(f"{counter} needs tracked detections (track_id is None)")
    return tracks if bool(np.all(tracks.track_id >= 0)) else tracks[tracks.track_id >= 0]


@dataclass(frozen=True, slots=True)
class Crossing:
    line: str
    track_id: int
    direction: Literal["in", "out"]
    ts: float  # seconds (video time or Unix time, whatever the caller feeds)

    def data(self, count_in: int, count_out: int) -> dict[str, Any]:
        """``data`` of a ``footfall.crossing`` event."""
        return {
            "line": self.line,
            "direction": self.direction,
            "track_id": self.track_id,
            "count_in": count_in,
            "count_out": count_out,
        }


class LineCounter:
    """Counts ``in`` and ``out`` crossings of one line (or polyline) by tracked ``Detections``."""

    def __init__(self, config: LineConfig, forget_after_s: float = 30.0) -> None:
        self.config = config
        self.name = config.name
        self.points = np.asarray(config.points, np.float64)
        chord = self.points[-1] - self.points[0]
        self._level = abs(chord[0]) / (np.hypot(*chord) or 1.0)  # 1 for a horizontal line, 0 for a vertical one
        self.forget_after_s = forget_after_s
        self.count_in = 0
        self.count_out = 0
        self._tracks = TrackTable(side=(np.int8, 0, ()), ref=(np.float64, 0.0, (2,)), seen=(np.float64, 0.0, ()))

    def update(self, tracks: Detections, ts: float) -> list[Crossing]:
        """Feed this frame's tracks (``track_id`` set); returns the crossings completed in this frame."""
        table = self._tracks
        crossings: list[Crossing] = []
        tracks = tracked(tracks, "LineCounter")
        if len(tracks):
            assert tracks.track_id is not None
            anchor = tracks.anchors(self.config.anchor).astype(np.float64)
            rows, _ = table.rows(tracks.track_id)
            table["seen"][rows] = ts
            sd = polyline_signed_distance(anchor, self.points)
            height = (tracks.xyxy[:, 3] - tracks.xyxy[:, 1]) * self._level
            band = np.maximum(self.config.margin_px, self.config.margin_share * height)
            side = np.where(sd > band, 1, np.where(sd < -band, -1, 0)).astype(np.int8)
            old = table["side"][rows]
            flips = (side != 0) & (old != 0) & (side != old)
            crossed = np.zeros(len(rows), bool)
            if flips.any():
                crossed[flips] = paths_cross_polyline(table["ref"][rows[flips]], anchor[flips], self.points)
            commit = side != 0
            table["side"][rows[commit]] = side[commit]
            table["ref"][rows[commit]] = anchor[commit]
            for i in np.flatnonzero(crossed):
                direction: Literal["in", "out"] = "in" if side[i] > 0 else "out"
                crossings.append(Crossing(self.name, int(tracks.track_id[i]), direction, ts))
            n_in = int(np.count_nonzero(side[crossed] > 0))
            self.count_in += n_in
            self.count_out += int(np.count_nonzero(crossed)) - n_in
        stale = table["seen"] < ts - self.forget_after_s
        if stale.any():
            table.keep(~stale)
        return crossings
