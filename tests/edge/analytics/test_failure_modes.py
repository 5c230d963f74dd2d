"""Counts that hold up: the failure modes users report in people counters (issue 16, point 3).

Each test feeds a hand-made scene to the shipped counters and to a *naive* counter that gets it wrong, so the test
shows the trap is real: the naive counter is asserted to miscount, the shipped one to count what happened.
The rules themselves: docs/counting.md, "Rules: one count per person per crossing".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edge.analytics.config import CountingConfig, LineConfig, ZoneConfig
from edge.analytics.counting import PeopleCounter
from edge.analytics.lines import LineCounter
from edge.analytics.zones import Zone
from edge.vision.detections import Detections
from tests.edge.analytics.helpers import people, walk

# A horizontal line drawn left to right at y = 200: walking down the image is "in".
DOOR = LineConfig(name="door", points=[(100, 200), (500, 200)])
ROOM = ZoneConfig(name="room", polygon=[(100, 100), (500, 100), (500, 400), (100, 400)])
FPS = 10.0


def naive_line(frames: Sequence[Detections], y: float = 200.0, per_frame: bool = False,
               once: bool = False) -> tuple[int, int]:
    """The counter people write first: (in, out) from the sign change of each id's raw anchor, frame to frame,
    keyed by whatever ``track_id`` says (-1 included); ``per_frame``: one crossing per frame at most; ``once``:
    one crossing per id (the usual de-duplication)."""
    last: dict[int, float] = {}
    counted: set[int] = set()
    n_in = n_out = 0
    for dets in frames:
        assert dets.track_id is not None
        crossed = False
        for tid, foot in zip(dets.track_id, dets.xyxy[:, 3], strict=True):
            before = last.get(int(tid))
            last[int(tid)] = float(foot)
            if before is None or (before - y) * (foot - y) >= 0 or (per_frame and crossed):
                continue
            if once and int(tid) in counted:
                continue
            crossed = True
            counted.add(int(tid))
            n_in, n_out = (n_in + 1, n_out) if foot > y else (n_in, n_out + 1)
    return n_in, n_out


def run_line(counter: LineCounter, frames: Sequence[Detections]) -> list[tuple[int, str, float]]:
    return [(c.track_id, c.direction, c.ts) for i, d in enumerate(frames) for c in counter.update(d, ts=i / FPS)]


def run_counter(counter: PeopleCounter, frames: Sequence[Detections]) -> list[dict[str, object]]:
    """``PeopleCounter.count`` (tracks given, no tracker) frame by frame: the footfall.crossing payloads."""
    return [e.data for i, d in enumerate(frames) for e in counter.count(d, ts=i / FPS).events
            if e.kind == "footfall.crossing"]


def test_lingering_on_the_line_counts_once_when_they_step_off() -> None:
    """A shopper stops on the door line for 45 s (longer than the 30 s a counter keeps a silent track), feet
    jittering +-4 px and the box bottom jumping +-12 px as legs are hidden and seen. A naive counter counts every
    sign change of the raw anchor (dozens); the band (here 20 px: 0.1 of a 200 px box) counts one ``in``, reported
    in the first frame the feet are beyond the band on the far side: the bounded delay."""
    rng = np.random.default_rng(11)
    approach = walk((300, 120), (300, 196), 20)
    linger = [(300.0, 200.0 + float(d)) for d in rng.uniform(-4, 4, 450) + rng.choice([-12.0, 12.0], 450)]
    leave = walk((300, 204), (300, 300), 25)
    frames = [people([p], [1], size=(70, 200)) for p in approach + linger + leave]
    assert run_line(LineCounter(DOOR), frames) == [(1, "in", pytest.approx(next(
        i for i, p in enumerate(approach + linger + leave) if i >= 470 and p[1] > 220) / FPS))]
    naive = naive_line(frames)
    assert sum(naive) > 10


def test_a_group_crossing_together_counts_each_person() -> None:
    """Four people shoulder to shoulder (boxes overlapping by a quarter) walk through the door in the same frames,
    through the tracker. A counter that registers "the line was crossed" once per frame counts one; each track
    has its own state, so the count is four, and each person once."""
    counter = PeopleCounter(CountingConfig(lines=[DOOR]), fps=FPS)
    xs = [240.0, 255.0, 270.0, 285.0]
    frames, events = [], []
    for i, y in enumerate(np.linspace(130, 290, 24)):
        boxes = np.array([[x - 10, y - 60, x + 10, y] for x in xs], np.float32)
        dets = Detections.from_arrays(boxes, np.full(4, 0.9))
        result = counter.update(dets, ts=i / FPS)
        frames.append(result.tracks)
        events += [e.data for e in result.events if e.kind == "footfall.crossing"]
    assert counter.lines[0].count_in == 4 and counter.lines[0].count_out == 0
    assert len({e["track_id"] for e in events}) == 4
    assert naive_line(frames, per_frame=True) == (1, 0)


def test_a_track_lost_on_the_line_and_refound_with_a_new_id_counts_once() -> None:
    """The tracker loses a person inside the band (occluded by the door frame) and re-finds them 0.5 s later just
    past the line under a new id. Keyed by id, a counter sees id 1 stop on the line and id 2 appear on the far
    side: neither crossed, nothing counts (the naive one also misses it). The counter hands the lost track's state
    to the new track that starts near where it was last seen, within the tracker's buffer: one ``in``, under the
    id the person had first."""
    before = [people([p], [1]) for p in walk((300, 120), (300, 197), 12)]
    gap = [Detections.empty().with_track_ids([]) for _ in range(5)]
    after = [people([p], [2]) for p in walk((302, 215), (302, 290), 12)]
    frames = before + gap + after
    events = run_counter(PeopleCounter(CountingConfig(lines=[DOOR]), fps=FPS), frames)
    assert [(e["track_id"], e["direction"]) for e in events] == [(1, "in")]
    assert naive_line(frames) == (0, 0)
    # Someone else who appears far from where the lost person was (a new shopper by another door) inherits
    # nothing: first seen on the far side, not a crossing.
    far = [people([p], [3]) for p in walk((460, 230), (460, 290), 8)]
    assert run_counter(PeopleCounter(CountingConfig(lines=[DOOR]), fps=FPS), before + gap + far) == []
    # Nor does a new track long after the lost one is gone (beyond track_buffer_s, 2 s).
    late = [Detections.empty().with_track_ids([]) for _ in range(30)]
    assert run_counter(PeopleCounter(CountingConfig(lines=[DOOR]), fps=FPS), before + late + after) == []


def test_a_track_lost_on_the_line_that_turned_back_counts_nothing() -> None:
    """Same loss on the line, but the person is re-found on the side they came from: they turned back. A counter
    that credits a new id appearing next to the line with a crossing would count one; the hand-off carries the
    committed side, which did not change: nothing counts."""
    before = [people([p], [1]) for p in walk((300, 120), (300, 197), 12)]
    gap = [Detections.empty().with_track_ids([]) for _ in range(4)]
    back = [people([p], [2]) for p in walk((300, 185), (300, 110), 12)]
    assert run_counter(PeopleCounter(CountingConfig(lines=[DOOR]), fps=FPS), before + gap + back) == []


def test_boxes_without_an_id_are_not_counted() -> None:
    """Boxes the tracker has not given an id yet (``track_id`` -1: tentative, or a detector's box fed alongside
    the tracks) cannot be followed from frame to frame. A counter keyed by ``track_id`` treats every -1 as one
    person and counts a crossing whenever two unrelated -1 boxes lie on either side of the line; the counters skip
    them: lines count only the tracked person, zones hold no -1 occupant."""
    rng = np.random.default_rng(5)
    path = walk((300, 150), (300, 260), 20)
    frames = []
    for i, p in enumerate(path):
        stray = (float(rng.uniform(120, 480)), 170.0 if i % 2 else 240.0)  # a -1 box alternating sides
        frames.append(people([p, stray], [7, -1]))
    assert [(t, d) for t, d, _ in run_line(LineCounter(DOOR), frames)] == [(7, "in")]
    assert sum(naive_line(frames)) > 5
    zone = Zone(ROOM)
    for i, dets in enumerate(frames):
        zone.update(dets, ts=i / FPS)
        assert -1 not in zone.inside_ids
    assert zone.max_occupancy == 1


def test_a_direction_flip_counts_both_crossings() -> None:
    """A shopper walks in, changes their mind and walks back out a second later. Counting one crossing per id
    (a common de-duplication) reports one ``in`` and leaves them inside; the counters report ``in`` then ``out``,
    so in - out is where the person really is. A flip inside the band (feet never leave it) counts nothing."""
    path = walk((300, 150), (300, 250), 10) + walk((300, 250), (300, 150), 10)
    frames = [people([p], [4]) for p in path]
    assert [(t, d) for t, d, _ in run_line(LineCounter(DOOR), frames)] == [(4, "in"), (4, "out")]
    assert naive_line(frames, once=True) == (1, 0)  # says the shopper is inside
    wobble = walk((300, 150), (300, 203), 10) + walk((300, 203), (300, 197), 3) + walk((300, 197), (300, 150), 10)
    assert run_line(LineCounter(DOOR), [people([p], [5]) for p in wobble]) == []


def test_zone_visit_survives_a_new_id_after_an_occlusion() -> None:
    """A person standing in the room is occluded for half a second and re-found under a new id a few pixels
    away. Keyed by id, the room holds two people until the old one times out (``exit_after_s``), and the stay is
    split into two visits with half the dwell each; with the hand-off the room holds one person and one visit."""
    counter = PeopleCounter(CountingConfig(zones=[ROOM]), fps=FPS)
    frames = ([people([(300, 250)], [1])] * 20 + [Detections.empty().with_track_ids([])] * 5
              + [people([(306, 252)], [2])] * 20 + [people([p], [2]) for p in walk((306, 252), (306, 460), 6)])
    occupancy = []
    visits = []
    for i, dets in enumerate(frames):
        result = counter.count(dets, ts=i / FPS)
        occupancy.append(counter.zones[0].occupancy)
        visits += [e.data for e in result.events if e.kind == "zone.visit"]
    assert max(occupancy) == 1
    assert len(visits) == 1 and visits[0]["track_id"] == 1
    assert visits[0]["dwell_s"] == pytest.approx(4.9)  # frame 0 (inside) to frame 49 (the first one outside)
    naive = Zone(ROOM)  # the zone alone, fed the raw ids
    naive_peak = 0
    for i, dets in enumerate(frames):
        naive.update(dets, ts=i / FPS)
        naive_peak = max(naive_peak, naive.occupancy)
    assert naive_peak == 2


def test_tracks_without_ids_are_refused_by_the_counter() -> None:
    """``PeopleCounter.count`` takes tracks; boxes with no ``track_id`` at all are a caller's mistake, named."""
    with pytest.raises(ValueError, match="track_id"):
        PeopleCounter(CountingConfig(lines=[DOOR]), fps=FPS).count(Detections.from_arrays([[0, 0, 9, 9]], [0.9]), 0)
