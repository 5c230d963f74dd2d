"""Shelf state: slots (polygons) with a planogram, per-frame facings/gaps/compliance, edge-triggered alerts.

Per frame, :class:`ShelfMonitor` takes recognised products (boxes + SKU), detected gaps and detected persons and
computes for every slot how much of it products cover (``fill``), which SKU it shows, and its state: ``occluded``
(a person hides it: never ``empty``), ``empty``, ``wrong`` (another known SKU than the planogram's), ``low`` or
``stocked``. Coverage is measured on a coarse raster of the slot polygons, so a frame costs a few array ops.

Alerts are edge-triggered with hysteresis (:class:`Debounce`): a slot must be seen empty, unoccluded, for
``out_of_stock_after_s`` (short non-empty blips are tolerated) to raise one ``shelf.out_of_stock``; only a slot
seen stocked without interruption for ``restock_after_s`` raises ``shelf.restocked``, so flicker never repeats an
alert. Occluded or ambiguous frames pause the timers. Snapshots come every ``snapshot_every_s``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from contract.events import Record
from edge.analytics.debounce import Debounce
from edge.analytics.shelf_config import ShelfConfig, SlotConfig
from edge.analytics.slots import SlotMap
from edge.vision.detections import Detections

SlotState = Literal["stocked", "low", "empty", "wrong", "occluded"]


@dataclass(frozen=True, slots=True)
class SlotView:
    slot: str
    row: str
    state: SlotState
    expected_sku: str | None
    sku: str | None  # the SKU seen most in the slot (``unknown`` when products are there but none recognised)
    fill: float
    gap: float
    facings: int


@dataclass(frozen=True, slots=True)
class ShelfFrame:
    """One frame's shelf state and the events it raised."""

    ts: float
    slots: list[SlotView]
    facings: dict[str, dict[str, int]]  # row -> SKU -> count
    compliance: float | None  # correct slots / visible slots with a planogram SKU; None when none is visible
    events: list[Record] = field(default_factory=list)

    @property
    def gaps(self) -> list[str]:
        return [s.slot for s in self.slots if s.state == "empty"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "compliance": self.compliance,
            "facings": self.facings,
            "gaps": self.gaps,
            "slots": [
                {
                    "slot": s.slot,
                    "row": s.row,
                    "state": s.state,
                    "sku": s.sku,
                    "expected_sku": s.expected_sku,
                    "fill": round(s.fill, 3),
                    "facings": s.facings,
                }
                for s in self.slots
            ],
            "events": [{"kind": e.kind, "data": e.data} for e in self.events],
        }


class ShelfMonitor:
    """Turns per-frame detections into slot states, facings, compliance and edge-triggered shelf events."""

    def __init__(self, config: ShelfConfig) -> None:
        self.config = config
        self.slots = config.slots()
        self.map = SlotMap(self.slots)
        c = config
        self._stock = [Debounce(c.out_of_stock_after_s, c.restock_after_s, c.grace_s) for _ in self.slots]
        self._wrong = [Debounce(c.violation_after_s, c.restock_after_s, c.grace_s) for _ in self.slots]
        self._last_ts: float | None = None
        self._next_snapshot: float | None = None


    def update(
        self, products: Detections, skus: list[str], gaps: Detections, persons: Detections, ts: float
    ) -> ShelfFrame:
        """One frame: ``products`` with their recognised ``skus`` (``unknown`` allowed), ``gaps``, ``persons``."""
        if len(skus) != len(products):
            raise ValueError(f"{len(skus)} SKUs for {len(products)} products")
        c = self.config
        dt = 0.0 if self._last_ts is None else min(max(ts - self._last_ts, 0.0), c.max_dt_s)
        self._last_ts = ts
        fill = self.map.coverage(products.xyxy)
        gap = self.map.coverage(gaps.xyxy)
        hidden = self.map.coverage(persons.xyxy)
        where = self.map.slot_of(products.anchors("center"))
        views: list[SlotView] = []
        events: list[Record] = []
        facings: dict[str, Counter[str]] = {row.name: Counter() for row in c.rows}
        for i, (row, slot) in enumerate(self.slots):
            seen = [skus[j] for j in np.flatnonzero(where == i)]
            facings[row].update(seen)
            view, raised = self._slot(i, row, slot, seen, (fill[i], gap[i], hidden[i]), ts, dt)
            views.append(view)
            events += raised
        frame = ShelfFrame(ts, views, {r: dict(sorted(f.items())) for r, f in facings.items()}, compliance(views),
                           events)
        if self._next_snapshot is None or ts >= self._next_snapshot:
            self._next_snapshot = ts + c.snapshot_every_s
            events.append(Record("shelf.snapshot", snapshot_data(c.shelf, frame), ts))
        return frame

    def _slot(
        self, i: int, row: str, slot: SlotConfig, seen: list[str], cover: tuple[Any, Any, Any], ts: float, dt: float
    ) -> tuple[SlotView, list[Record]]:
        """One slot's view and the events it raised; ``cover``: its (fill, gap, hidden) shares."""
        c = self.config
        fill, gap, hidden = cover
        known = Counter(s for s in seen if s != "unknown")
        observed = known.most_common(1)[0][0] if known else ("unknown" if seen else None)
        state = self._state(fill, gap, hidden, slot.sku, observed)
        empty = (
            None
            if state == "occluded"
            else (True if state == "empty" else False if fill >= c.stocked_fill else None)
        )
        events = self._stock_events(i, row, slot, empty, fill, ts, dt)
        wrong = (
            None
            if state in ("occluded", "empty") or slot.sku is None or observed in (None, "unknown")
            else observed != slot.sku
        )
        if self._wrong[i].update(wrong, ts, dt) == "raised":
            events.append(
                Record(
                    "shelf.planogram_violation",
                    {
                        "shelf": c.shelf,
                        "row": row,
                        "slot": slot.name,
                        "expected_sku": slot.sku,
                        "observed_sku": observed,
                        "confidence": round(known[observed or ""] / len(seen), 3),
                    },
                    ts,
                )
            )
        return SlotView(slot.name, row, state, slot.sku, observed, float(fill), float(gap), len(seen)), events

    def _state(self, fill: float, gap: float, hidden: float, expected: str | None, observed: str | None) -> SlotState:
        c = self.config
        if hidden >= c.occluded_cover:
            return "occluded"
        if fill < c.empty_fill or (gap >= 0.5 and fill < c.stocked_fill):
            return "empty"
        if expected is not None and observed not in (None, "unknown", expected):
            return "wrong"
        return "low" if fill < c.low_fill else "stocked"

    def _stock_events(
        self, i: int, row: str, slot: SlotConfig, empty: bool | None, fill: float, ts: float, dt: float
    ) -> list[Record]:
        debounce = self._stock[i]
        change = debounce.update(empty, ts, dt)
        base = {"shelf": self.config.shelf, "row": row, "slot": slot.name, "sku": slot.sku}
        if change == "raised":
            return [Record("shelf.out_of_stock", {**base, "confidence": round(1.0 - min(fill, 1.0), 3)}, ts)]
        if change == "cleared":
            empty_s = (debounce.ended or ts) - (debounce.since or ts)
            return [Record("shelf.restocked", {**base, "empty_s": round(max(empty_s, 0.0), 3)}, ts)]
        return []


def compliance(views: list[SlotView]) -> float | None:
    """Slots showing their planogram SKU (stocked or low) / visible slots with a planogram SKU; None when none."""
    visible = [v for v in views if v.state != "occluded" and v.expected_sku is not None]
    correct = sum(v.state in ("stocked", "low") and v.sku == v.expected_sku for v in visible)
    return round(correct / len(visible), 4) if visible else None


def snapshot_data(shelf: str, frame: ShelfFrame) -> dict[str, Any]:
    """``shelf.snapshot`` payload: every slot's state plus facings and compliance."""
    slots = [{key: value for key, value in row.items() if key != "facings"} | {"fill": min(row["fill"], 1.0)}
             for row in frame.to_dict()["slots"]]
    return {"shelf": shelf, "compliance": frame.compliance, "facings": frame.facings, "slots": slots}
