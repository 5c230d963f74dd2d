"""Footfall per interval (e.g. per minute and per hour): in/out per line, peak occupancy per zone.

Produces :class:`contract.Record` (event kind, ``data`` payload, time) for ``footfall.interval`` and
``zone.occupancy``; the service wraps them in ``contract.Event``. Intervals are aligned to multiples of
``interval_s`` of the time fed in (Unix time in the service: whole minutes and hours).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from contract.events import Record
from edge.analytics.lines import Crossing
from edge.analytics.zones import iso


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

    def add(self, ts: float, crossings: Iterable[Crossing], occupancy: Mapping[str, int]) -> list[Record]:
        """Account one frame at ``ts``; returns the records of any interval that ended before it."""
        bucket = math.floor(ts / self.interval_s) * self.interval_s
        records: list[Record] = []
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

    def flush(self) -> list[Record]:
        """Close the current interval (also at shutdown): one record per line and per zone."""
        if self.start is None:
            return []
        start, end = self.start, self.start + self.interval_s
        span = {"start": iso(start), "end": iso(end), "interval_s": self.interval_s}
        records = [Record("footfall.interval", {"line": name, **span, **c}, end) for name, c in self.counts.items()]
        records += [
            Record("zone.occupancy", {"zone": name, "count": self.last[name], "peak": self.peak[name], **span}, end)
            for name in self.zones
        ]
        self.start = None
        self._reset()
        return records
