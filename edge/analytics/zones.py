"""Polygon zones: live occupancy, entry and exit per track, dwell per visit; queue zones add length and mean wait.

A track is inside when its anchor is more than ``margin_px`` inside the border and outside when more than
``margin_px`` outside (hysteresis); a visit ends when the track is seen outside or has not been seen for
``exit_after_s`` (it left the picture or the tracker lost it), and then its dwell is ``exit - enter``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from contract.events import format_ts
from edge.analytics.config import ZoneConfig
from edge.analytics.geometry import inside_edges, polygon_edges, polygon_signed_distance
from edge.analytics.lines import tracked
from edge.analytics.state import TrackTable
from edge.vision.detections import Detections


def iso(ts: float) -> str:
    """A Unix time in seconds as the events' RFC 3339 UTC string."""
    return format_ts(datetime.fromtimestamp(ts, UTC))


@dataclass(frozen=True, slots=True)
class Visit:
    zone: str
    track_id: int
    enter_ts: float
    exit_ts: float

    @property
    def dwell_s(self) -> float:
        return self.exit_ts - self.enter_ts

    def data(self) -> dict[str, Any]:
        """``data`` of a ``zone.visit`` event."""
        return {
            "zone": self.zone,
            "track_id": self.track_id,
            "enter": iso(self.enter_ts),
            "exit": iso(self.exit_ts),
            "dwell_s": round(self.dwell_s, 3),
        }


@dataclass(slots=True)
class ZoneUpdate:
    """What changed in one frame: ids that entered, visits that ended."""

    entered: list[int] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)


class Zone:
    """Occupancy and visits of one polygon zone."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self.name = config.name
        self.polygon = np.asarray(config.polygon, np.float64)
        self._edges = polygon_edges(self.polygon)
        self.max_occupancy = 0
        self.visit_count = 0
        self.total_dwell_s = 0.0
        self._tracks = TrackTable(inside=(np.bool_, False, ()), enter=(np.float64, 0.0, ()), seen=(np.float64, 0.0, ()))

    @property
    def occupancy(self) -> int:
        return int(np.count_nonzero(self._tracks["inside"]))

    @property
    def inside_ids(self) -> list[int]:
        return [int(i) for i in self._tracks.ids[self._tracks["inside"]]]

    @property
    def mean_dwell_s(self) -> float | None:
        return self.total_dwell_s / self.visit_count if self.visit_count else None

    def update(self, tracks: Detections, ts: float) -> ZoneUpdate:
        """Feed this frame's tracks (``track_id`` set) at time ``ts`` seconds."""
        table, out = self._tracks, ZoneUpdate()
        exited: list[tuple[np.ndarray, np.ndarray]] = []
        tracks = tracked(tracks, "Zone")
        if len(tracks):
            assert tracks.track_id is not None
            rows, _ = table.rows(tracks.track_id)
            table["seen"][rows] = ts
            anchor = tracks.anchors(self.config.anchor).astype(np.float64)
            if self.config.margin_px > 0:
                sd = polygon_signed_distance(anchor, *self._edges)
                now_in, now_out = sd > self.config.margin_px, sd < -self.config.margin_px
            else:
                now_in = inside_edges(anchor, *self._edges)
                now_out = ~now_in
            inside = table["inside"][rows]
            enter = rows[now_in & ~inside]
            leave = rows[now_out & inside]
            table["inside"][enter] = True
            table["enter"][enter] = ts
            out.entered = [int(i) for i in table.ids[enter]]
            exited.append((leave, np.full(len(leave), ts)))
            table["inside"][leave] = False
        gone = np.flatnonzero(table["inside"] & (table["seen"] < ts - self.config.exit_after_s))
        exited.append((gone, table["seen"][gone]))
        table["inside"][gone] = False
        for rows_out, exit_ts in exited:
            for row, t in zip(rows_out, exit_ts, strict=True):
                out.visits.append(Visit(self.name, int(table.ids[row]), float(table["enter"][row]), float(t)))
        self._closed(out.visits)
        self.max_occupancy = max(self.max_occupancy, self.occupancy)
        stale = ~table["inside"] & (table["seen"] < ts - max(self.config.exit_after_s, 30.0))
        if stale.any():
            table.keep(~stale)
        return out

    def close(self) -> list[Visit]:
        """End every open visit at its track's last sighting (end of the video, shutdown)."""
        table = self._tracks
        rows = np.flatnonzero(table["inside"])
        visits = [Visit(self.name, int(table.ids[r]), float(table["enter"][r]), float(table["seen"][r])) for r in rows]
        table["inside"][rows] = False
        self._closed(visits)
        return visits

    def _closed(self, visits: list[Visit]) -> None:
        self.visit_count += len(visits)
        self.total_dwell_s += sum(v.dwell_s for v in visits)

    def occupancy_data(self) -> dict[str, Any]:
        """``data`` of a ``zone.occupancy`` event."""
        return {"zone": self.name, "count": self.occupancy, "track_ids": self.inside_ids}


class QueueZone(Zone):
    """A zone people wait in: queue length now and the mean wait of recent visits."""

    def __init__(self, config: ZoneConfig) -> None:
        super().__init__(config)
        self._recent: deque[Visit] = deque()

    def _closed(self, visits: list[Visit]) -> None:
        super()._closed(visits)
        self._recent.extend(v for v in visits if v.dwell_s >= self.config.min_wait_s)

    def wait_s(self, ts: float) -> float | None:
        """Mean wait of the visits that ended in the last ``wait_window_s`` seconds (None when there were none)."""
        while self._recent and self._recent[0].exit_ts < ts - self.config.wait_window_s:
            self._recent.popleft()
        return float(np.mean([v.dwell_s for v in self._recent])) if self._recent else None

    def status_data(self, ts: float) -> dict[str, Any]:
        """``data`` of a ``queue.status`` event."""
        wait = self.wait_s(ts)
        return {"zone": self.name, "length": self.occupancy, "wait_s": None if wait is None else round(wait, 3)}


def make_zone(config: ZoneConfig) -> Zone:
    return QueueZone(config) if config.kind == "queue" else Zone(config)
