"""The devices' health as a roll-out sees it: the device-level ``device.health`` events the collector stored, read
incrementally (by the ``stored`` time the events table is indexed on), and counts of detection events.

A reading keeps what a roll-out judges: fps, uptime (a reset is a restart), the reason (``startup``), and the
model version and sha256 when the health event carries ``model: {name, version, sha256}`` (a plain model name
carries no version: the device's reply then tells when it applied).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from collector.store.database import Database

Key = tuple[str, str]
#: events made from what the detector found: their rate before and after a roll-out is its "detection rate"
DETECTION_KINDS = ("footfall.crossing", "zone.visit")
OVERLAP_S = 5.0  # re-read this far back: a replica's batch may commit after a later-stamped one


@dataclass(frozen=True, slots=True)
class Reading:
    stored: float
    reason: str
    fps: float | None
    uptime_s: float | None
    version: int | None
    sha256: str | None


def reading(stored: float, data: dict[str, Any]) -> Reading:
    """One device-level health event's ``data`` as a :class:`Reading` (fields read defensively)."""
    model = data.get("model")
    version = model.get("version") if isinstance(model, dict) else None
    sha = model.get("sha256") if isinstance(model, dict) else None
    fps, uptime = data.get("fps"), data.get("uptime_s")
    return Reading(stored, str(data.get("reason", "")), float(fps) if isinstance(fps, int | float) else None,
                   float(uptime) if isinstance(uptime, int | float) else None,
                   version if isinstance(version, int) else None, sha if isinstance(sha, str) else None)


class HealthWatch:
    """Readings per device from ``since`` on; :meth:`refresh` reads what was stored since the last call."""

    def __init__(self, db: Database, since: float) -> None:
        self.db = db
        self.since = self.cursor = since
        self._readings: dict[Key, list[Reading]] = defaultdict(list)
        self._seen: dict[str, float] = {}

    def rewind(self, since: float) -> None:
        """Make sure readings from ``since`` on are held (a roll-out resumed or created with an older window)."""
        if since < self.since:
            self.since = self.cursor = since
            self._readings.clear()
            self._seen.clear()

    def refresh(self) -> None:
        rows = self.db.rows(
            "SELECT id, store, device, stored, payload FROM events WHERE kind = 'device.health' AND stored > ? "
            "AND (camera IS NULL OR camera = '') ORDER BY stored", (self.cursor - OVERLAP_S,))
        for row in rows:
            if row["id"] in self._seen:
                continue
            stored = float(row["stored"])
            self._seen[row["id"]] = stored
            try:
                data = json.loads(row["payload"]).get("data") or {}
            except (ValueError, AttributeError):
                continue
            found = self._readings[(row["store"], row["device"])]
            item = reading(stored, data)
            if found and found[-1].stored > stored:
                found.insert(bisect_left([r.stored for r in found], stored), item)
            else:
                found.append(item)
            self.cursor = max(self.cursor, stored)
        horizon = self.cursor - 2 * OVERLAP_S
        self._seen = {k: v for k, v in self._seen.items() if v >= horizon}

    def window(self, key: Key, start: float, end: float | None = None) -> list[Reading]:
        """The readings of ``key`` stored in ``[start, end)`` (no end: up to now)."""
        found = self._readings.get(key, [])
        return [r for r in found if r.stored >= start and (end is None or r.stored < end)]

    def prune(self, before: float) -> None:
        """Forget readings stored before ``before`` (no active roll-out needs them)."""
        for key, found in self._readings.items():
            self._readings[key] = [r for r in found if r.stored >= before]
        self.since = max(self.since, before)


def detections(db: Database, start: float, end: float, device: Key | None = None) -> dict[Key, int]:
    """Detection events (:data:`DETECTION_KINDS`) per device (or of ``device`` only) stored in ``[start, end)``."""
    marks = ",".join("?" * len(DETECTION_KINDS))
    only = " AND store = ? AND device = ?" if device else ""
    rows = db.rows(f"SELECT store, device, COUNT(*) AS n FROM events WHERE stored >= ? AND stored < ? AND kind IN "
                   f"({marks}){only} GROUP BY store, device", (start, end, *DETECTION_KINDS, *(device or ())))
    return {(r["store"], r["device"]): int(r["n"]) for r in rows}
