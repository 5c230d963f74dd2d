"""Footfall per interval (e.g. per minute and per hour): in/out per line, peak occupancy per zone.

Produces :class:`EventData` (event kind, time, ``data`` payload) for ``footfall.interval`` and
``zone.occupancy``; the service wraps them in ``edge.events.Event``. Intervals are aligned to multiples of
``interval_s`` of the time fed in (Unix time in the service: whole minutes and hours).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.analytics.lines import Crossing
from edge.analytics.zones import iso


@dataclass(frozen=True, slots=True)
class EventData:
    """An event to publish: ``kind`` (e.g. ``footfall.interval``), time ``ts`` in seconds, ``data`` payload."""

    kind: str
    ts: float
    data: dict[str, Any]


class IntervalCounter:
    """Buckets crossings and occupancy into aligned intervals of ``interval_s`` seconds."""

    def __init__(self, interval_s: float, lines: Iterable[str], zones: Iterable[str]) -> None:
        self.interval_s = float(interval_s)
        self.lines = list(lines)
        self.zones = list(zones)
        self.start: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.counts = {name: {"in": 0, "out": 0} for name in self.lines}
        self.peak = dict.fromkeys(self.zones, 0)
        self.last = dict.fromkeys(self.zones, 0)

    def add(self, ts: float, crossings: Iterable[Crossing], occupancy: Mapping[str, int]) -> list[EventData]:
        """Account one frame at ``ts``; returns the records of any interval that ended before it."""
        bucket = math.floor(ts / self.interval_s) * self.interval_s
        records: list[EventData] = []
        if self.start is None:
            self.start = bucket
        elif bucket > self.start:
            records = self.flush()
            self.start = bucket
        for c in crossings:
            self.counts[c.line][c.direction] += 1
        for name, n in occupancy.items():
            self.peak[name] = max(self.peak[name], n)
            self.last[name] = n
        return records

    def flush(self) -> list[EventData]:
        """Close the current interval (also at shutdown): one record per line and per zone."""
        if self.start is None:
            return []
        start, end = self.start, self.start + self.interval_s
        span = {"start": iso(start), "end": iso(end), "interval_s": self.interval_s}
        records = [EventData("footfall.interval", end, {"line": name, **span, **c}) for name, c in self.counts.items()]
        records += [
            EventData("zone.occupancy", end, {"zone": name, "count": self.last[name], "peak": self.peak[name], **span})
            for name in self.zones
        ]
        self.start = None
        self._reset()
        return records
