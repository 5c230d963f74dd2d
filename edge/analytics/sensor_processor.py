"""One serial port's bytes in, sensor events out (no I/O): the protocol decoder, per-slot weight trackers and
the door counters. The reader thread of :mod:`hardware.serial_sensors` feeds it (it is a ``Processor``)."""

from __future__ import annotations

from edge.analytics.doors import DoorCounter, FootfallEvent
from edge.analytics.weights import WeightConfig, WeightEvent, WeightTracker
from hardware.serial_sensors import DoorCount, LineDecoder, SensorStats

SensorEvent = WeightEvent | FootfallEvent


class SensorProcessor:
    """Decoder + per-slot trackers + door counters: bytes in, :data:`SensorEvent` list out (no I/O)."""

    def __init__(self, weight: WeightConfig | None = None, slots: dict[str, WeightConfig] | None = None) -> None:
        self.stats = SensorStats()
        self.decoder = LineDecoder(self.stats)
        self.weight = weight or WeightConfig()
        self.slot_configs = slots or {}  # "shelf/slot" -> its own config (e.g. unit_g, tare_g)
        self.trackers: dict[tuple[str, str], WeightTracker] = {}
        self.doors = DoorCounter(self.stats)

    def feed(self, data: bytes, ts: float) -> list[SensorEvent]:
        events: list[SensorEvent] = []
        for record in self.decoder.feed(data):
            if isinstance(record, DoorCount):
                events.extend(self.doors.update(record, ts))
                continue
            key = (record.shelf, record.slot)
            tracker = self.trackers.get(key)
            if tracker is None:
                config = self.slot_configs.get(f"{record.shelf}/{record.slot}", self.weight)
                tracker = self.trackers[key] = WeightTracker(record.shelf, record.slot, config)
            events.extend(tracker.update(record.grams, ts))
        return events

    def disconnected(self) -> None:
        self.decoder.reset()
        for tracker in self.trackers.values():
            tracker.reset_window()
