"""People counting for one camera: tracker -> lines, zones, interval footfall, as events ready to publish.

``PeopleCounter.update(detections, ts)`` is the one per-frame call for both ``smartstore track`` and the
edge service; it returns the tracks and the :class:`contract.Record` of ``footfall.crossing``, ``zone.visit``,
``zone.occupancy`` (on change, and per interval with the peak), ``queue.status`` (on change) and
``footfall.interval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contract.events import Record
from edge.analytics.config import CountingConfig
from edge.analytics.footfall import IntervalCounter
from edge.analytics.lines import Crossing, LineCounter
from edge.analytics.tracker import ByteTracker
from edge.analytics.zones import QueueZone, make_zone
from edge.vision.detections import Detections


@dataclass(slots=True)
class FrameResult:
    tracks: Detections
    crossings: list[Crossing] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)


#: a new track within this many box heights of where a lost one was last seen continues that person
HANDOFF_HEIGHTS = 1.0


class Handoff:
    """Counting ids that survive a tracker id change: a track with a new tracker id that starts within
    ``radius`` box heights (centre to centre) of where a track was last seen, at most ``within_s`` seconds ago,
    with a height within 0.7-1.4 of it, is that person: it is counted under the lost track's id, so a line sees
    one crossing and a zone one visit. Nearest pairs first, one new track per lost one. Decided in the new track's
    first frame: no look-ahead."""

    def __init__(self, within_s: float, radius: float = HANDOFF_HEIGHTS) -> None:
        self.within_s, self.radius = within_s, radius
        self._alias: dict[int, int] = {}  # tracker id -> counting id
        self._last: dict[int, tuple[float, float, float, float, int]] = {}  # counting id -> ts, cx, cy, h, tracker id

    def update(self, tracks: Detections, ts: float) -> tuple[Detections, list[int]]:
        """``tracks`` with counting ids (ids below 0 untouched), and the tracker ids of the lost tracks whose
        person now has a new track (the tracker should drop them, or it would re-find one person twice)."""
        if not len(tracks) or tracks.track_id is None:
            self._prune(ts)
            return tracks, []
        raw = [int(t) for t in tracks.track_id]
        centre = tracks.anchors("center").astype(np.float64)
        height = np.maximum(tracks.xyxy[:, 3] - tracks.xyxy[:, 1], 1.0).astype(np.float64)
        present = {self._alias[t] for t in raw if t in self._alias}
        gone = [c for c, last in self._last.items() if c not in present and ts - last[0] <= self.within_s]
        pairs = []
        for i in (i for i, t in enumerate(raw) if t >= 0 and t not in self._alias):
            for c in gone:
                _, x, y, h, _ = self._last[c]
                dist = float(np.hypot(centre[i, 0] - x, centre[i, 1] - y)) / h
                if dist <= self.radius and 0.7 < height[i] / h < 1.4:
                    pairs.append((dist, i, c))
        forget = []
        for _, i, c in sorted(pairs):
            if raw[i] not in self._alias and c not in present:
                self._alias[raw[i]] = c
                present.add(c)
                forget.append(self._last[c][4])
        ids = []
        for i, t in enumerate(raw):
            c = self._alias.setdefault(t, t) if t >= 0 else t
            if t >= 0:
                self._last[c] = (ts, float(centre[i, 0]), float(centre[i, 1]), float(height[i]), t)
            ids.append(c)
        self._prune(ts)
        return tracks.with_track_ids(ids), forget

    def _prune(self, ts: float) -> None:
        for c in [c for c, last in self._last.items() if ts - last[0] > self.within_s]:
            self._alias.pop(self._last.pop(c)[4], None)


class PeopleCounter:
    """Tracks people and counts them on the configured lines and zones."""

    def __init__(self, config: CountingConfig, fps: float) -> None:
        self.config = config
        self.tracker = ByteTracker(config.tracker, fps=fps)
        self.handoff = Handoff(config.tracker.track_buffer_s)
        self.lines = [LineCounter(c) for c in config.lines]
        self.zones = [make_zone(c) for c in config.zones]
        names = [z.name for z in self.zones]
        self.intervals = [IntervalCounter(s, [x.name for x in self.lines], names) for s in config.intervals_s]
        self._reported = {z.name: 0 for z in self.zones}

    def update(self, detections: Detections, ts: float) -> FrameResult:
        """One frame: ``detections`` of people (no track ids), ``ts`` its time in seconds."""
        tracks = self.tracker.update(detections)
        return self.count(tracks, ts)

    def count(self, tracks: Detections, ts: float) -> FrameResult:
        """Lines, zones and intervals for already tracked detections. Events name counting ids
        (:class:`Handoff`); ``FrameResult.tracks`` keeps the tracker's."""
        result = FrameResult(tracks)
        if len(tracks) and tracks.track_id is None:
            raise ValueError("PeopleCounter.count needs tracked detections (track_id is None)")
        counted, forget = self.handoff.update(tracks, ts)
        if forget:
            self.tracker.forget(forget)
        for line in self.lines:
            crossings = line.update(counted, ts)
            result.crossings += crossings
            result.events += [
                Record("footfall.crossing", c.data(line.count_in, line.count_out), c.ts) for c in crossings
            ]
        occupancy: dict[str, int] = {}
        for zone in self.zones:
            change = zone.update(counted, ts)
            result.events += [Record("zone.visit", v.data(), v.exit_ts) for v in change.visits]
            occupancy[zone.name] = n = zone.occupancy
            if n != self._reported[zone.name]:
                self._reported[zone.name] = n
                result.events.append(Record("zone.occupancy", zone.occupancy_data(), ts))
                if isinstance(zone, QueueZone):
                    result.events.append(Record("queue.status", zone.status_data(ts), ts))
        for interval in self.intervals:
            result.events += interval.add(ts, result.crossings, occupancy)
        return result

    def flush(self) -> list[Record]:
        """End open visits and close the open intervals (at shutdown or the end of a video)."""
        events = [Record("zone.visit", v.data(), v.exit_ts) for z in self.zones for v in z.close()]
        return events + [record for interval in self.intervals for record in interval.flush()]

    def summary(self) -> dict[str, Any]:
        """Totals: per line ``{in, out}``, per zone ``{max_occupancy, mean_dwell_s, visits}``."""
        zones: dict[str, Any] = {}
        for z in self.zones:
            dwell = z.mean_dwell_s
            zones[z.name] = {
                "max_occupancy": z.max_occupancy,
                "mean_dwell_s": None if dwell is None else round(dwell, 3),
                "visits": z.visit_count,
            }
        return {"lines": {x.name: {"in": x.count_in, "out": x.count_out} for x in self.lines}, "zones": zones}
