"""Weight strips: a slot's readings become ``pick_up`` / ``put_back`` / ``empty`` events.

:class:`WeightTracker` debounces (a weight counts once ``settle_samples`` readings agree within ``noise_g``),
follows drift (changes under ``min_delta_g`` move the baseline slowly, and the tare of an empty tray) and tracks
the empty state that :class:`~edge.analytics.stock_fusion.StockFusion` fuses with the camera.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class WeightConfig:
    """How a slot's readings become events. Grams throughout."""

    settle_samples: int = 3  # consecutive readings within noise_g before a weight counts (debouncing)
    noise_g: float = 6.0  # spread of readings still called "stable"
    min_delta_g: float = 20.0  # smallest change reported as a pick-up / put-back (lighter than one item)
    empty_g: float = 15.0  # net weight at or below which the slot is empty
    tare_g: float = 0.0  # reading of the empty tray
    drift_alpha: float = 0.1  # how fast the baseline follows changes smaller than min_delta_g (0 = never)
    unit_g: float | None = None  # weight of one item: events then carry a unit count


WeightKind = Literal["pick_up", "put_back", "empty"]


@dataclass(frozen=True)
class WeightEvent:
    kind: WeightKind
    shelf: str
    slot: str
    grams: float  # settled gross reading
    delta_g: float  # change since the previous settled weight (0 for ``empty`` on start-up)
    units: int | None
    ts: float
    empty: bool  # the slot's state after this event (feed it to StockFusion.weight)

    def data(self, sensor: str) -> dict[str, Any]:
        """The ``sensor.weight`` event payload (``contract/schemas/sensor.weight.schema.json``) plus ``action``."""
        out: dict[str, Any] = {"sensor": sensor, "slot": f"{self.shelf}/{self.slot}", "grams": round(self.grams, 1),
                               "delta_g": round(self.delta_g, 1), "action": self.kind}
        if self.units is not None:
            out["units"] = self.units
        return out



class WeightTracker:
    """One slot: debounced settled weight, drift-compensated baseline and tare, empty state."""

    def __init__(self, shelf: str, slot: str, config: WeightConfig) -> None:
        self.shelf, self.slot, self.config = shelf, slot, config
        self.window: deque[float] = deque(maxlen=config.settle_samples)
        self.baseline: float | None = None
        self.tare = config.tare_g
        self.empty = False

    def reset_window(self) -> None:
        self.window.clear()

    def update(self, grams: float, ts: float) -> list[WeightEvent]:
        cfg = self.config
        self.window.append(grams)
        if len(self.window) < cfg.settle_samples or max(self.window) - min(self.window) > cfg.noise_g:
            return []  # still moving: a hand on the shelf, an item being placed
        settled = sum(self.window) / len(self.window)
        if self.baseline is None:  # first settled weight: the starting point, reported only when empty
            self.baseline = settled
            self.empty = settled - self.tare <= cfg.empty_g
            return [WeightEvent("empty", self.shelf, self.slot, settled, 0.0, None, ts, True)] if self.empty else []
        delta = settled - self.baseline
        if abs(delta) < cfg.min_delta_g:  # drift: follow slowly, so creeping load cells never add up to an event
            self.baseline += cfg.drift_alpha * delta
            if self.empty:  # zero tracking: an empty tray's reading is the new tare
                self.tare += cfg.drift_alpha * (settled - self.tare)
            return []
        was_empty = self.empty
        self.baseline = settled
        self.empty = settled - self.tare <= cfg.empty_g
        units = round(abs(delta) / cfg.unit_g) if cfg.unit_g else None
        kind: WeightKind = "pick_up" if delta < 0 else "put_back"
        events = [WeightEvent(kind, self.shelf, self.slot, settled, delta, units, ts, self.empty)]
        if self.empty and not was_empty:
            events.append(WeightEvent("empty", self.shelf, self.slot, settled, delta, None, ts, True))
        return events
