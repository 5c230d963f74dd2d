"""Out-of-stock from two sources: the shelf camera's slot state and the slot's weight strip."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StockEvent:
    kind: Literal["out_of_stock", "restocked"]
    slot: Hashable
    source: str  # "camera+weight", "camera", "weight" (the one source believed after the timeout)
    ts: float
    disagreed_s: float = 0.0


@dataclass
class _SlotState:
    camera: bool | None = None
    weight: bool | None = None
    out: bool = False
    disagree_since: float | None = None


@dataclass
class StockFusion:
    """A slot is out of stock when camera and weight both say empty, or when one of them has said so for
    ``disagree_timeout_s`` while the other disagrees (or has not reported). Restocked when neither says empty."""

    disagree_timeout_s: float = 60.0
    slots: dict[Hashable, _SlotState] = field(default_factory=dict)

    def camera(self, slot: Hashable, out_of_stock: bool, now: float) -> list[StockEvent]:
        self.slots.setdefault(slot, _SlotState()).camera = out_of_stock
        return self._evaluate(slot, now)

    def weight(self, slot: Hashable, empty: bool, now: float) -> list[StockEvent]:
        self.slots.setdefault(slot, _SlotState()).weight = empty
        return self._evaluate(slot, now)

    def tick(self, now: float) -> list[StockEvent]:
        """Call periodically: disagreements that outlived the timeout become out-of-stock."""
        return [event for slot in list(self.slots) for event in self._evaluate(slot, now)]

    def knows(self, slot: Hashable) -> bool:
        """Either source has reported on this slot."""
        return slot in self.slots

    def out_of_stock(self, slot: Hashable) -> bool:
        state = self.slots.get(slot)
        return bool(state and state.out)

    def _evaluate(self, slot: Hashable, now: float) -> list[StockEvent]:
        state = self.slots[slot]
        votes = [name for name in ("camera", "weight") if getattr(state, name)]
        if not votes:
            state.disagree_since = None
            if state.out:
                state.out = False
                return [StockEvent("restocked", slot, "camera+weight", now)]
            return []
        if state.out:
            return []
        if len(votes) == 2:
            state.disagree_since, state.out = None, True
            return [StockEvent("out_of_stock", slot, "camera+weight", now)]
        if state.disagree_since is None:
            state.disagree_since = now
        waited = now - state.disagree_since
        if waited < self.disagree_timeout_s:
            return []
        state.out = True
        log.info("slot %s out of stock on %s alone after %.0f s of disagreement", slot, votes[0], waited)
        return [StockEvent("out_of_stock", slot, votes[0], now, waited)]
