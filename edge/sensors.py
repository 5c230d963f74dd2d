"""All serial sensor ports of a box behind one object the edge service polls from its main loop.

``SensorsConfig`` is the ``sensors:`` section of ``edge.yaml`` (pydantic, errors name the field). ``SensorHub``
runs one :class:`~hardware.serial_sensors.SerialSensorReader` thread per port (each with a
:class:`~edge.analytics.sensor_processor.SensorProcessor`), fuses weight with the shelf camera's out-of-stock
state (:class:`~edge.analytics.stock_fusion.StockFusion`) and hands back :class:`contract.Record` records for the
event envelope: ``sensor.weight``, ``shelf.out_of_stock``, ``shelf.restocked``. Door counts accumulate in
``footfall`` for the health event.
"""

from __future__ import annotations

import functools
import queue
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contract.events import Record
from edge.analytics.doors import FootfallEvent
from edge.analytics.sensor_processor import SensorEvent, SensorProcessor
from edge.analytics.stock_fusion import StockEvent, StockFusion
from edge.analytics.weights import WeightConfig, WeightEvent
from hardware.serial_sensors import SerialSensorReader

CAMERA_STOCK_KINDS = ("shelf.out_of_stock", "shelf.restocked")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightSettings(_Strict):
    """``WeightConfig`` as configuration (grams)."""

    settle_samples: int = Field(default=3, ge=1)
    noise_g: float = Field(default=6.0, ge=0)
    min_delta_g: float = Field(default=20.0, gt=0)
    empty_g: float = Field(default=15.0, ge=0)
    tare_g: float = 0.0
    drift_alpha: float = Field(default=0.1, ge=0, le=1)
    unit_g: float | None = Field(default=None, gt=0)

    def build(self) -> WeightConfig:
        return WeightConfig(**self.model_dump())


class SensorPortConfig(_Strict):
    port: str = Field(min_length=1, description="device path (/dev/serial/by-id/...) or pyserial URL")
    baud: int = Field(default=9600, gt=0)
    weight: WeightSettings = WeightSettings()
    slots: dict[str, WeightSettings] = {}  # "shelf/slot" of the strip -> its own settings (unit_g, tare_g)


class SensorsConfig(_Strict):
    ports: list[SensorPortConfig] = []
    disagree_timeout_s: float = Field(default=60.0, gt=0)  # camera vs weight: believe one alone after this long
    slot_names: dict[str, str] = {}  # strip "shelf/slot" -> the planogram's "shelf/slot" (default: the same)

    def strip_slots(self) -> set[str]:
        """Planogram slots ("shelf/slot") configured with a weight strip (in ``slot_names`` or a port's ``slots``)."""
        named = {self.slot_names.get(k, k) for port in self.ports for k in port.slots}
        return named | set(self.slot_names.values())


class SensorHub:
    """``start()``; call ``drain(now)`` from the main loop and ``camera_events(events)`` with the shelf events."""

    def __init__(self, config: SensorsConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.fusion = StockFusion(config.disagree_timeout_s)
        self.footfall: dict[str, dict[str, int]] = {}  # door -> {"entered": n, "exited": n} since start
        self._strips = config.strip_slots()
        self._queue: queue.SimpleQueue[tuple[str, SensorEvent]] = queue.SimpleQueue()
        self.readers = [
            SerialSensorReader(
                p.port, functools.partial(self._put, p.port), baudrate=p.baud, clock=clock,
                processor=SensorProcessor(p.weight.build(), {k: v.build() for k, v in p.slots.items()}),
            )
            for p in config.ports
        ]

    def _put(self, port: str, event: SensorEvent) -> None:
        self._queue.put((port, event))

    def start(self) -> SensorHub:
        for reader in self.readers:
            reader.start()
        return self

    def stop(self) -> None:
        for reader in self.readers:
            reader.stop()

    def stats(self) -> dict[str, dict[str, int]]:
        return {reader.port: reader.stats.as_dict() for reader in self.readers}

    def has_strip(self, slot: str) -> bool:
        """A weight strip is configured for (or has reported on) this planogram slot ("shelf/slot")."""
        return slot in self._strips or self.fusion.knows(slot)

    def camera(self, slot: str, out_of_stock: bool, now: float) -> list[Record]:
        """The camera's view of a planogram slot ("shelf/slot"); returns fused stock events, if any."""
        return [self._stock(e) for e in self.fusion.camera(slot, out_of_stock, now)]

    def camera_events(self, events: Iterable[Record]) -> list[Record]:
        """The shelf camera's out-of-stock / restocked decisions, fused for slots with a weight strip (a camera-only
        slot keeps its camera event and gets no second, fused one); returns the fused stock events."""
        records: list[Record] = []
        for event in events:
            slot = f"{event.data['shelf']}/{event.data.get('slot')}"
            if event.kind in CAMERA_STOCK_KINDS and self.has_strip(slot):
                records += self.camera(slot, event.kind == "shelf.out_of_stock", event.ts)
        return records

    def drain(self, now: float) -> list[Record]:
        """Everything the sensors reported since the last call, plus fused stock decisions due by ``now``."""
        records: list[Record] = []
        while True:
            try:
                port, event = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, FootfallEvent):
                door = self.footfall.setdefault(event.door, {"entered": 0, "exited": 0})
                door["entered"] += event.entered
                door["exited"] += event.exited
                continue
            assert isinstance(event, WeightEvent)
            slot = self.config.slot_names.get(f"{event.shelf}/{event.slot}", f"{event.shelf}/{event.slot}")
            data = event.data(port)
            data["slot"] = slot
            records.append(Record("sensor.weight", data, event.ts))
            records += [self._stock(e) for e in self.fusion.weight(slot, event.empty, event.ts)]
        records += [self._stock(e) for e in self.fusion.tick(now)]
        return records

    def entered(self) -> int:
        """People in through every door counter since start (for ``footfall_agreement``)."""
        return sum(door["entered"] for door in self.footfall.values())

    @staticmethod
    def _stock(event: StockEvent) -> Record:
        shelf, _, slot = str(event.slot).partition("/")
        data: dict[str, Any] = {"shelf": shelf, "slot": slot or shelf, "source": event.source}
        if event.disagreed_s:
            data["disagreed_s"] = round(event.disagreed_s, 1)
        return Record(f"shelf.{event.kind}", data, event.ts)
