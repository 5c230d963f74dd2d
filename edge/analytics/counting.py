"""People counting for one camera: tracker -> lines, zones, interval footfall, as events ready to publish.

``PeopleCounter.update(detections, ts)`` is the one per-frame call for both ``smartstore track`` and the
edge service; it returns the tracks and the :class:`contract.Record` of ``footfall.crossing``, ``zone.visit``,
``zone.occupancy`` (on change, and per interval with the peak), ``queue.status`` (on change) and
``footfall.interval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


class PeopleCounter:
    """Tracks people and counts them on the configured lines and zones."""

    def __init__(self, config: CountingConfig, fps: float) -> None:
        self.config = config
        self.tracker = ByteTracker(config.tracker, fps=fps)
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
        """Lines, zones and intervals for already tracked detections."""
        result = FrameResult(tracks)
        for line in self.lines:
            crossings = line.update(tracks, ts)
            result.crossings += crossings
            result.events += [
                Record("footfall.crossing", c.data(line.count_in, line.count_out), c.ts) for c in crossings
            ]
        occupancy: dict[str, int] = {}
        for zone in self.zones:
            change = zone.update(tracks, ts)
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
