"""Shelf state and out-of-stock logic on scripted detection sequences (10 frames per second)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import numpy as np
import pytest

from contract import Event, load_schema
from edge.analytics.shelf_config import ShelfConfig, ShelfConfigError, load_shelf_config
from edge.analytics.shelf_monitor import ShelfFrame, ShelfMonitor
from edge.vision.detections import Detections

FPS = 10
# one row of three 100x200 slots side by side; products fill a slot with two facings of 50x180
SLOTS = {"A": "Oatly-Oat-Milk", "B": "Arla-Standard-Milk", "C": "Bravo-Apple-Juice"}


def config(**overrides: float) -> ShelfConfig:
    slots = [
        {"name": name, "sku": sku, "polygon": [[100 * i, 0], [100 * i + 100, 0], [100 * i + 100, 200], [100 * i, 200]]}
        for i, (name, sku) in enumerate(SLOTS.items())
    ]
    base = {
        "shelf": "bay-1",
        "rows": [{"name": "top", "slots": slots}],
        "out_of_stock_after_s": 5.0,
        "restock_after_s": 2.0,
        "violation_after_s": 3.0,
        "grace_s": 1.0,
        "snapshot_every_s": 30.0,
    }
    return ShelfConfig.model_validate({**base, **overrides})


def products(stocked: dict[str, str | None]) -> tuple[Detections, list[str]]:
    """Two facings per stocked slot, labelled with the given SKU (None: the slot is empty)."""
    boxes, skus = [], []
    for i, name in enumerate(SLOTS):
        sku = stocked.get(name, SLOTS[name])
        if sku is None:
            continue
        boxes += [[100 * i + 2, 15, 100 * i + 50, 198], [100 * i + 51, 15, 100 * i + 98, 198]]
        skus += [sku, sku]
    return Detections.from_arrays(np.array(boxes, np.float32).reshape(-1, 4), np.ones(len(boxes))), skus


def person(x0: float, x1: float) -> Detections:
    return Detections.from_arrays([[x0, -50, x1, 400]], [0.9])


class Scripted:
    """Feeds a monitor frame by frame and collects the events."""

    def __init__(self, **overrides: float) -> None:
        self.monitor = ShelfMonitor(config(**overrides))
        self.frames = 0
        self.events: list[tuple[str, dict]] = []
        self.last: ShelfFrame | None = None

    def run(
        self,
        seconds: float,
        stocked: dict[str, str | None] | None = None,
        persons: Detections | None = None,
        gaps: Detections | None = None,
    ) -> ShelfFrame:
        for _ in range(round(seconds * FPS)):
            boxes, skus = products(stocked or {})
            self.last = self.monitor.update(
                boxes, skus, gaps or Detections.empty(), persons or Detections.empty(), self.frames / FPS
            )
            self.events += [(e.kind, e.data) for e in self.last.events if e.kind != "shelf.snapshot"]
            self.frames += 1
        assert self.last is not None
        return self.last

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


def test_full_shelf_is_compliant_with_facings_per_row() -> None:
    frame = Scripted().run(1)
    assert [s.state for s in frame.slots] == ["stocked"] * 3
    assert frame.facings == {"top": {sku: 2 for sku in sorted(SLOTS.values())}}
    assert frame.compliance == 1.0
    assert frame.gaps == []


def test_gap_that_persists_raises_one_alert_and_restocking_clears_it() -> None:
    s = Scripted()
    s.run(2)
    s.run(4.5, {"B": None})
    assert s.kinds() == []  # not yet: 5 s needed
    s.run(20, {"B": None})
    assert s.kinds() == ["shelf.out_of_stock"]
    data = s.events[0][1]
    assert data == {"shelf": "bay-1", "row": "top", "slot": "B", "sku": "Arla-Standard-Milk", "confidence": 1.0}
    assert s.last is not None and s.last.gaps == ["B"] and s.last.compliance == pytest.approx(2 / 3, abs=1e-3)
    s.run(1.5)  # restocked, but not for long enough yet
    assert s.kinds() == ["shelf.out_of_stock"]
    s.run(1)
    assert s.kinds() == ["shelf.out_of_stock", "shelf.restocked"]
    assert s.events[1][1]["slot"] == "B"
    assert s.events[1][1]["empty_s"] == pytest.approx(24.5, abs=0.01)  # from 2.0 s (gap seen) to 26.5 s (products seen)
    s.run(30)
    assert len(s.events) == 2


def test_passing_shopper_never_raises_an_alert() -> None:
    s = Scripted()
    s.run(1)
    # a shopper walks past: stands in front of B for 8 s (the detector sees no products behind), then moves on
    frame = s.run(8, {"B": None}, persons=person(90, 215))
    assert frame.slots[1].state == "occluded"
    assert frame.compliance == 1.0  # occluded slots are not counted against compliance
    s.run(20)
    assert s.kinds() == []


def test_shopper_taking_the_last_items_then_leaving_raises_after_the_hold_time() -> None:
    s = Scripted()
    s.run(1)
    s.run(8, {"B": None}, persons=person(90, 215))  # occluded: timers paused
    s.run(4.9, {"B": None})
    assert s.kinds() == []
    s.run(0.3, {"B": None})
    assert s.kinds() == ["shelf.out_of_stock"]


def test_flicker_never_raises_repeated_alerts() -> None:
    s = Scripted()
    rng = np.random.default_rng(0)
    for _ in range(600):  # 60 s: B detected empty or full at random, frame by frame
        s.run(0.1, {"B": None} if rng.random() < 0.5 else {})
    assert s.kinds().count("shelf.out_of_stock") <= 1
    assert "shelf.restocked" not in s.kinds()


def test_brief_detector_dropouts_on_a_stocked_shelf_raise_nothing() -> None:
    s = Scripted()
    for _ in range(20):  # every 3 s, a 0.5 s dropout of B's products
        s.run(2.5)
        s.run(0.5, {"B": None})
    assert s.kinds() == []


def test_gap_with_detector_blips_still_raises_once() -> None:
    s = Scripted()
    for _ in range(10):  # empty, with a one-frame false product detection every second
        s.run(0.9, {"B": None})
        s.run(0.1)
    assert s.kinds() == ["shelf.out_of_stock"]


def test_wrong_product_raises_a_planogram_violation_once() -> None:
    s = Scripted()
    frame = s.run(2.9, {"C": "Arla-Standard-Milk"})
    assert frame.slots[2].state == "wrong" and frame.slots[2].sku == "Arla-Standard-Milk"
    assert s.kinds() == []
    s.run(10, {"C": "Arla-Standard-Milk"})
    assert s.kinds() == ["shelf.planogram_violation"]
    assert s.events[0][1]["expected_sku"] == "Bravo-Apple-Juice"
    assert s.events[0][1]["observed_sku"] == "Arla-Standard-Milk"


def test_unrecognised_products_are_not_violations() -> None:
    s = Scripted()
    frame = s.run(15, {"C": "unknown"})
    assert frame.slots[2].state == "stocked" and frame.slots[2].sku == "unknown"
    assert s.kinds() == []
    assert frame.compliance == pytest.approx(2 / 3, abs=1e-3)


def test_gap_detection_marks_a_sparse_slot_empty() -> None:
    s = Scripted()
    boxes, skus = products({})
    keep = np.array([sku != "Bravo-Apple-Juice" for sku in skus])
    keep[4] = True  # one narrow facing left in C: 30% coverage, ambiguous on its own
    sparse = Detections.from_arrays(boxes.xyxy[keep] * np.float32([1, 1, 1, 1]), np.ones(int(keep.sum())))
    sparse.xyxy[-1, 2] = 232
    gap = Detections.from_arrays([[233, 15, 298, 198]], [0.8], [1])
    frame = s.monitor.update(sparse, [skus[i] for i in np.flatnonzero(keep)], gap, Detections.empty(), 0.0)
    assert frame.slots[2].state == "empty"
    frame = s.monitor.update(
        sparse, [skus[i] for i in np.flatnonzero(keep)], Detections.empty(), Detections.empty(), 0.1
    )
    assert frame.slots[2].state == "low"


def test_periodic_snapshots_follow_the_schema() -> None:
    s = Scripted(snapshot_every_s=10.0)
    snapshots = []
    for _ in range(250):
        frame = s.run(0.1, {"A": None})
        snapshots += [e for e in frame.events if e.kind == "shelf.snapshot"]
    assert [round(e.ts, 1) for e in snapshots] == [0.0, 10.0, 20.0]
    assert {d["slot"]: d["state"] for d in snapshots[-1].data["slots"]} == {
        "A": "empty",
        "B": "stocked",
        "C": "stocked",
    }


@pytest.mark.parametrize(
    "kind", ["shelf.out_of_stock", "shelf.restocked", "shelf.planogram_violation", "shelf.snapshot"]
)
def test_event_payloads_validate_against_their_schemas(kind: str) -> None:
    s = Scripted(snapshot_every_s=5.0)
    events = []
    for stocked, persons in (({"B": None}, None), ({}, None), ({"C": "Oatly-Oat-Milk"}, None), ({}, person(0, 90))):
        for _ in range(120):
            events += s.run(0.1, stocked, persons).events
    payloads = [e.data for e in events if e.kind == kind]
    if kind == "shelf.snapshot":
        assert {"empty", "wrong", "occluded", "stocked"} <= {x["state"] for d in payloads for x in d["slots"]}
    assert payloads, f"no {kind} event was raised"
    for data in payloads:
        jsonschema.validate(data, load_schema(kind))
        envelope = Event(kind=kind, store="store-1", device="cam-1", seq=1, data=data).to_dict()
        jsonschema.validate(envelope, load_schema("event"))


def test_overlapping_slots_are_refused_with_both_names(tmp_path: Path) -> None:
    path = tmp_path / "shelf.yaml"
    path.write_text(
        "shelf: bay-1\nrows:\n  - name: top\n    slots:\n"
        "      - {name: A, sku: x, polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]}\n"
        "      - {name: B, sku: y, polygon: [[60, 0], [160, 0], [160, 100], [60, 100]]}\n"
    )
    with pytest.raises(ShelfConfigError, match=r"shelf.yaml: .*slots 'A' \(row 'top'\) and 'B' \(row 'top'\) overlap"):
        load_shelf_config(path)


def test_touching_slots_are_fine() -> None:
    monitor = ShelfMonitor(config())
    assert len(monitor.slots) == 3


def test_planogram_naming_an_unknown_sku_is_refused() -> None:
    message = r"rows\[0\].slots\[1\].sku: unknown SKU 'Arla-Standard-Milk' \(slot 'B'\)"
    with pytest.raises(ShelfConfigError, match=message):
        config().check_skus(["Oatly-Oat-Milk", "Bravo-Apple-Juice"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shelf: bay 1\nrows: []\n", "shelf: String should match pattern"),
        (
            "shelf: b\nrows:\n  - name: r\n    slots:\n      - {name: A, polygon: [[0, 0], [1, 1]]}\n",
            r"rows.0.slots.0.polygon: List should have at least 3 items",
        ),
        (
            "shelf: b\nempty_fill: 0.5\nstocked_fill: 0.3\nrows:\n  - name: r\n    slots:\n"
            "      - {name: A, polygon: [[0, 0], [9, 0], [9, 9]]}\n",
            "need empty_fill <= stocked_fill",
        ),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_configs_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "shelf.yaml"
    path.write_text(text)
    with pytest.raises(ShelfConfigError, match=message):
        load_shelf_config(path)
