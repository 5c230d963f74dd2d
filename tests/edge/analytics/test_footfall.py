"""Interval footfall and the people-counting pipeline: events carry the payloads the event schemas expect."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

from contract.events import Record, has_schema, load_schema
from edge.analytics.config import CountingConfig, LineConfig, ZoneConfig
from edge.analytics.counting import PeopleCounter
from edge.analytics.footfall import IntervalCounter
from edge.analytics.lines import Crossing
from edge.vision.detections import Detections


def check_schema(event: Record) -> None:
    """Validate ``data`` against ``contract/schemas/<kind>.schema.json`` (the issue-4 data schemas) when present."""
    if not has_schema(event.kind):
        pytest.skip(f"no data schema for {event.kind} yet")
    jsonschema.validate(event.data, load_schema(event.kind))


def test_intervals_per_minute() -> None:
    counter = IntervalCounter(60, lines=["door"], zones=["shop"])
    records: list[Record] = []
    records += counter.add(10.0, [Crossing("door", 1, "in", 10.0)], {"shop": 1})
    records += counter.add(30.0, [Crossing("door", 2, "in", 30.0), Crossing("door", 1, "out", 30.0)], {"shop": 3})
    records += counter.add(59.9, [], {"shop": 2})
    assert records == []
    records += counter.add(61.0, [Crossing("door", 3, "out", 61.0)], {"shop": 1})
    assert [(r.kind, r.ts) for r in records] == [("footfall.interval", 60.0), ("zone.occupancy", 60.0)]
    line, zone = records[0].data, records[1].data
    assert (line["line"], line["in"], line["out"]) == ("door", 2, 1)
    assert line["start"] == "1970-01-01T00:00:00.000Z" and line["end"] == "1970-01-01T00:01:00.000Z"
    assert (zone["zone"], zone["peak"], zone["count"]) == ("shop", 3, 2)
    last = counter.flush()
    assert (last[0].data["in"], last[0].data["out"], last[1].data["peak"]) == (0, 1, 1)
    assert counter.flush() == []
    for record in records + last:
        check_schema(record)


def test_people_counter_end_to_end_on_synthetic_detections() -> None:
    config = CountingConfig(
        lines=[LineConfig(name="door", points=[(0, 300), (640, 300)])],
        zones=[
            ZoneConfig(name="shop", polygon=[(0, 300), (640, 300), (640, 480), (0, 480)]),
            ZoneConfig(name="till", kind="queue", polygon=[(400, 350), (640, 350), (640, 480), (400, 480)]),
        ],
        intervals_s=[1],
    )
    counter = PeopleCounter(config, fps=10)
    events: list[Record] = []
    for t in range(60):  # two people walk in side by side; one stops at the till
        y1 = min(200 + 6 * t, 420)
        feet = [(200.0, 200.0 + 5 * t), (500.0, float(y1))]
        boxes = [[x - 20, y - 100, x + 20, y] for x, y in feet]
        result = counter.update(Detections.from_arrays(np.array(boxes), [0.9, 0.8]), ts=t / 10)
        events += result.events
    events += counter.flush()
    kinds = [e.kind for e in events]
    assert kinds.count("footfall.crossing") == 2
    summary = counter.summary()
    assert summary["lines"] == {"door": {"in": 2, "out": 0}}
    assert summary["zones"]["shop"]["max_occupancy"] == 2
    assert summary["zones"]["till"]["visits"] == 1  # closed at the end of the video
    assert "queue.status" in kinds and "zone.visit" in kinds and "footfall.interval" in kinds
    for event in events:
        check_schema(event)
