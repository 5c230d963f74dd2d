"""Zones on hand-made trajectories: entering and leaving, dwell, occupancy, timeouts, queues."""

from __future__ import annotations

import pytest

from edge.analytics.config import ZoneConfig
from edge.analytics.zones import QueueZone, Zone, make_zone
from edge.vision.detections import Detections
from tests.edge.analytics.helpers import people, walk

SHELF = ZoneConfig(name="shelf", polygon=[(100, 100), (300, 100), (300, 300), (100, 300)])
FPS = 10.0


def test_person_entering_and_leaving_gives_one_visit_with_its_dwell() -> None:
    zone = Zone(SHELF)
    path = walk((50, 200), (95, 200), 5) + [(200.0, 200.0)] * 30 + walk((310, 200), (350, 200), 5)
    entered, visits, occupancy = [], [], []
    for i, p in enumerate(path):
        change = zone.update(people([p], [3]), ts=i / FPS)
        entered += change.entered
        visits += change.visits
        occupancy.append(zone.occupancy)
    assert entered == [3]
    assert len(visits) == 1
    assert visits[0].track_id == 3
    assert visits[0].enter_ts == pytest.approx(5 / FPS)  # first frame inside
    assert visits[0].exit_ts == pytest.approx(35 / FPS)  # first frame outside
    assert visits[0].dwell_s == pytest.approx(3.0)
    assert max(occupancy) == 1 and occupancy[-1] == 0
    assert zone.visit_count == 1 and zone.mean_dwell_s == pytest.approx(3.0)
    data = visits[0].data()
    assert data["zone"] == "shelf" and data["dwell_s"] == pytest.approx(3.0) and data["enter"].endswith("Z")


def test_occupancy_counts_people_inside_now() -> None:
    zone = Zone(SHELF)
    zone.update(people([(150, 150), (250, 250), (400, 400)], [1, 2, 3]), 0.0)
    assert zone.occupancy == 2 and sorted(zone.inside_ids) == [1, 2]
    zone.update(people([(150, 150), (350, 250), (200, 200)], [1, 2, 3]), 0.1)
    assert sorted(zone.inside_ids) == [1, 3]
    assert zone.max_occupancy == 2


def test_a_track_that_vanishes_inside_leaves_after_the_timeout() -> None:
    zone = Zone(SHELF.model_copy(update={"exit_after_s": 1.0}))
    zone.update(people([(200, 200)], [8]), 0.0)
    zone.update(people([(200, 200)], [8]), 0.5)
    assert zone.update(Detections.empty(), 1.2).visits == []  # lost only 0.7 s: still inside (occlusion)
    assert zone.occupancy == 1
    visits = zone.update(Detections.empty(), 1.6).visits
    assert [(v.track_id, v.enter_ts, v.exit_ts) for v in visits] == [(8, 0.0, 0.5)]
    assert zone.occupancy == 0


def test_border_hysteresis() -> None:
    zone = Zone(SHELF.model_copy(update={"margin_px": 5.0}))
    wobble = [(300.0 + d, 200.0) for d in (-8, -3, 3, -3, 3, -2, 8)]  # border at x = 300
    visits = []
    for i, p in enumerate(wobble):
        visits += zone.update(people([p], [1]), i / FPS).visits
    assert [(v.enter_ts, v.exit_ts) for v in visits] == [(0.0, pytest.approx(0.6))]


def test_close_ends_open_visits_at_last_sighting() -> None:
    zone = Zone(SHELF)
    zone.update(people([(200, 200)], [1]), 1.0)
    zone.update(people([(210, 200)], [1]), 4.0)
    visits = zone.close()
    assert [(v.track_id, v.dwell_s) for v in visits] == [(1, 3.0)]
    assert zone.occupancy == 0 and zone.visit_count == 1


def test_queue_length_and_mean_wait() -> None:
    queue = make_zone(ZoneConfig(name="till", kind="queue", polygon=SHELF.polygon, min_wait_s=1.0, wait_window_s=60))
    assert isinstance(queue, QueueZone)
    # Person 1 waits 10 s, person 2 waits 20 s, person 3 walks through in 0.5 s (not a wait), person 4 still waits.
    inside, outside = (200, 200), (400, 400)
    frames = {
        0.0: {1: inside, 2: inside, 3: outside},
        0.5: {1: inside, 2: inside, 3: inside},
        1.0: {1: inside, 2: inside, 3: outside},
        10.0: {1: outside, 2: inside, 4: inside},
        20.0: {2: outside, 4: inside},
    }
    for ts, where in frames.items():
        queue.update(people(list(where.values()), list(where)), ts)
    status = queue.status_data(20.0)
    assert status == {"zone": "till", "length": 1, "wait_s": pytest.approx(15.0)}
    assert queue.status_data(200.0)["wait_s"] is None  # the waits fell out of the window
