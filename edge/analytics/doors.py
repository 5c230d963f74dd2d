"""Door / IR-beam counters: cumulative totals become increments; the camera-vs-beam agreement for health."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from hardware.serial_sensors import DoorCount, SensorStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FootfallEvent:
    door: str
    entered: int
    exited: int
    ts: float



class DoorCounter:
    """Cumulative door totals -> increments; a total going down means the counter rebooted (counted)."""

    def __init__(self, stats: SensorStats) -> None:
        self.stats = stats
        self.totals: dict[str, tuple[int, int]] = {}

    def update(self, record: DoorCount, ts: float) -> list[FootfallEvent]:
        previous = self.totals.get(record.door)
        self.totals[record.door] = (record.entered, record.exited)
        if previous is None:
            return []  # first report: the totals before it are unknown
        entered, exited = record.entered - previous[0], record.exited - previous[1]
        if entered < 0 or exited < 0:
            self.stats.counter_resets += 1
            log.warning("door counter %s went back (%s -> %s): counter restarted", record.door, previous,
                        (record.entered, record.exited))
            entered, exited = record.entered, record.exited
        return [FootfallEvent(record.door, entered, exited, ts)] if entered or exited else []


def footfall_agreement(camera_in: int, sensor_in: int) -> dict[str, Any]:
    """Camera vs door-counter entries for the health event: both counts, difference and ratio."""
    ratio = round(camera_in / sensor_in, 3) if sensor_in else None
    return {"camera_in": camera_in, "sensor_in": sensor_in, "difference": camera_in - sensor_in, "ratio": ratio}
