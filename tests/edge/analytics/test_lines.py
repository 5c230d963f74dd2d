"""Line counting on hand-made trajectories: jitter, U-turns, pairs, lost-and-recovered tracks, polylines."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.analytics.config import LineConfig
from edge.analytics.lines import LineCounter
from edge.vision.detections import Detections
from tests.edge.analytics.helpers import people, walk

# A horizontal line drawn left to right at y = 200: walking down the image is "in".
DOOR = LineConfig(name="door", points=[(100, 200), (500, 200)], margin_px=5)


def run(counter: LineCounter, frames: list[Detections]) -> list[tuple[int, str]]:
    events = []
    for i, dets in enumerate(frames):
        events += [(c.track_id, c.direction) for c in counter.update(dets, ts=i / 25)]
    return events


def test_walking_down_is_in_and_up_is_out() -> None:
    counter = LineCounter(DOOR)
    down = [people([p], [1]) for p in walk((300, 150), (300, 250), 20)]
    up = [people([p], [2]) for p in walk((200, 260), (200, 140), 20)]
    assert run(counter, down + up) == [(1, "in"), (2, "out")]
    assert (counter.count_in, counter.count_out) == (1, 1)


def test_jitter_on_the_line_counts_once() -> None:
    counter = LineCounter(DOOR)
    approach = walk((300, 150), (300, 197), 10)
    rng = np.random.default_rng(0)
    jitter = [(300.0, 200.0 + float(d)) for d in rng.uniform(-4.9, 4.9, size=60)]  # inside the 5 px band
    leave = walk((300, 203), (300, 260), 10)
    events = run(counter, [people([p], [7]) for p in approach + jitter + leave])
    assert events == [(7, "in")]
    # Jitter across the line after the crossing does not count either.
    more = [people([(300.0, 200.0 + d)], [7]) for d in rng.uniform(-4.9, 4.9, size=40)]
    assert run(counter, more) == []
    assert (counter.count_in, counter.count_out) == (1, 0)


def test_jitter_without_hysteresis_would_double_count() -> None:
    """The same kind of wobble with no band counts every flip: the hysteresis is what prevents it."""
    counter = LineCounter(DOOR.model_copy(update={"margin_px": 0.0, "margin_share": 0.0}))
    wobble = [people([(300.0, 200.0 + d)], [3]) for d in [-3, 3, -3, 3, -3, 3]]
    assert len(run(counter, wobble)) == 5


def test_a_tall_box_whose_bottom_grows_and_shrinks_over_the_line_does_not_count() -> None:
    """A person standing on the line, legs hidden then seen: the box's top stays, its bottom moves +-15 px (here
    7 % of a 210 px box, beyond the 5 px band). The band grows with the box; a fixed band counts every flip."""
    rng = np.random.default_rng(3)
    frames = [people([(300.0, 200.0 + float(d))], [9], size=(80, 210)) for d in rng.choice([-15.0, 15.0], 40)]
    assert run(LineCounter(DOOR), frames) == []
    assert len(run(LineCounter(DOOR.model_copy(update={"margin_share": 0.0})), frames)) >= 10
    walking = [people([p], [10], size=(80, 210)) for p in walk((300, 150), (300, 260), 25)]
    assert run(LineCounter(DOOR), walking) == [(10, "in")]


def test_u_turn_on_the_line_does_not_count() -> None:
    counter = LineCounter(DOOR)
    path = walk((300, 120), (300, 203), 15) + walk((300, 203), (300, 120), 15)  # into the band and back
    assert run(counter, [people([p], [4]) for p in path]) == []


def test_back_and_forth_counts_what_happened() -> None:
    counter = LineCounter(DOOR)
    path = walk((300, 150), (300, 250), 10) + walk((300, 250), (300, 150), 10) + walk((300, 150), (300, 250), 10)
    assert run(counter, [people([p], [5]) for p in path]) == [(5, "in"), (5, "out"), (5, "in")]
    assert (counter.count_in, counter.count_out) == (2, 1)


def test_two_people_crossing_together() -> None:
    counter = LineCounter(DOOR)
    a, b = walk((280, 150), (280, 250), 12), walk((310, 150), (310, 250), 12)
    events = run(counter, [people([p, q], [1, 2]) for p, q in zip(a, b, strict=True)])
    assert sorted(events) == [(1, "in"), (2, "in")]
    assert counter.count_in == 2


def test_lost_and_recovered_across_the_line_counts_once() -> None:
    counter = LineCounter(DOOR)
    before = [people([p], [9]) for p in walk((300, 120), (300, 185), 8)]
    gap = [Detections.empty().with_track_ids([]) for _ in range(12)]  # occluded while crossing
    after = [people([p], [9]) for p in walk((300, 230), (300, 280), 8)]
    assert run(counter, before + gap + after) == [(9, "in")]


def test_first_seen_on_the_far_side_is_not_a_crossing() -> None:
    counter = LineCounter(DOOR)
    assert run(counter, [people([p], [1]) for p in walk((300, 230), (300, 280), 8)]) == []


def test_walking_around_the_end_of_the_line_is_not_a_crossing() -> None:
    counter = LineCounter(DOOR)
    path = walk((300, 150), (560, 150), 10) + walk((560, 150), (560, 260), 10) + walk((560, 260), (300, 260), 10)
    assert run(counter, [people([p], [1]) for p in path]) == []


def test_polyline_counts_each_crossing_once() -> None:
    # A bent line (an L around a shop entrance): crossing either leg counts once.
    counter = LineCounter(LineConfig(name="bend", points=[(100, 200), (300, 200), (300, 400)]))
    leg1 = [people([p], [1]) for p in walk((200, 150), (200, 260), 12)]
    leg2 = [people([p], [2]) for p in walk((380, 300), (250, 300), 12)]
    events = run(counter, leg1 + leg2)
    assert [e[0] for e in events] == [1, 2]
    assert {e[1] for e in events} == {"in"}  # both move to the right-hand side of (100,200)->(300,200)->(300,400)


def test_forgotten_tracks_are_dropped() -> None:
    counter = LineCounter(DOOR, forget_after_s=1.0)
    counter.update(people([(300, 150)], [1]), ts=0.0)
    counter.update(people([(50, 50)], [2]), ts=5.0)
    assert list(counter._tracks.ids) == [2]


def test_untracked_detections_are_refused() -> None:
    dets = Detections.from_arrays([[0, 0, 10, 10]], [0.9])
    with pytest.raises(ValueError, match="track_id"):
        LineCounter(DOOR).update(dets, 0.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-60, 60, allow_nan=False), min_size=2, max_size=80))
def test_net_count_is_the_net_change_of_side(offsets: list[float]) -> None:
    """Any wobbly walk across a long line: in - out = how its committed side changed, never more."""
    counter = LineCounter(DOOR)
    path = [(300.0 + 10 * np.sin(i), 200.0 + dy) for i, dy in enumerate(offsets)]
    run(counter, [people([p], [1]) for p in path])
    band = max(DOOR.margin_px, DOOR.margin_share * 60)  # people() boxes are 60 px tall; the line is horizontal
    committed = [int(np.sign(dy)) for dy in offsets if abs(dy) > band]
    net = (committed[-1] - committed[0]) // 2 if committed else 0
    assert counter.count_in - counter.count_out == net
    flips = sum(a != b for a, b in itertools.pairwise(committed))
    assert counter.count_in + counter.count_out == flips
