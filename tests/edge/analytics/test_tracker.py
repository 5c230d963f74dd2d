"""ByteTracker on synthetic detections: stable ids, occlusion recovery, low-score rescue, crossing paths."""

from __future__ import annotations

import numpy as np

from edge.analytics.config import TrackerConfig
from edge.analytics.tracker import ByteTracker
from edge.vision.detections import Detections


def box(cx: float, cy: float, w: float = 40, h: float = 100) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(boxes: list[list[float]], scores: list[float] | None = None) -> Detections:
    return Detections.from_arrays(np.reshape(boxes, (-1, 4)), scores if scores is not None else [0.9] * len(boxes))


def ids_of(out: Detections) -> list[int]:
    assert out.track_id is not None
    return [int(i) for i in out.track_id]


def test_two_walkers_keep_their_ids() -> None:
    tracker = ByteTracker(fps=25)
    seen: list[list[int]] = []
    for t in range(60):
        out = tracker.update(dets([box(50 + 4 * t, 200), box(600 - 3 * t, 300)]))
        seen.append(ids_of(out))
        assert np.all(np.abs(out.xyxy - dets([box(50 + 4 * t, 200), box(600 - 3 * t, 300)]).xyxy) < 5)
    assert seen[0] == [1, 2]  # the first frame confirms at once
    assert all(s == [1, 2] for s in seen)


def test_single_frame_false_positive_gets_no_id() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=2), fps=25)
    tracker.update(dets([box(100, 100)]))
    out = tracker.update(dets([box(102, 100), box(400, 300)]))  # the second box appears once
    assert ids_of(out) == [1]
    for _ in range(3):
        out = tracker.update(dets([box(104, 100)]))
    assert ids_of(out) == [1]
    out = tracker.update(dets([box(106, 100), box(300, 300)]))
    out = tracker.update(dets([box(108, 100), box(302, 300)]))  # two frames in a row: confirmed, next id
    assert ids_of(out) == [1, 2]


def test_occluded_track_is_recovered_with_its_id() -> None:
    tracker = ByteTracker(TrackerConfig(track_buffer_s=1.0), fps=25)
    for t in range(20):
        tracker.update(dets([box(100 + 5 * t, 200)]))
    for _ in range(15):  # hidden for 0.6 s while it keeps walking
        assert len(tracker.update(Detections.empty())) == 0
    out = tracker.update(dets([box(100 + 5 * 35, 200)]))
    assert ids_of(out) == [1]


def test_track_lost_longer_than_the_buffer_gets_a_new_id() -> None:
    tracker = ByteTracker(TrackerConfig(track_buffer_s=0.2, min_hits=1), fps=25)
    for t in range(10):
        tracker.update(dets([box(100 + 5 * t, 200)]))
    for _ in range(10):
        tracker.update(Detections.empty())
    assert len(tracker) == 0
    assert ids_of(tracker.update(dets([box(150, 200)]))) == [2]


def test_low_score_detections_rescue_a_confirmed_track_but_start_none() -> None:
    tracker = ByteTracker(TrackerConfig(high_thresh=0.5, low_thresh=0.1), fps=25)
    for t in range(10):
        tracker.update(dets([box(100 + 5 * t, 200)]))
    for t in range(10, 20):  # partly occluded: the detector is unsure
        out = tracker.update(dets([box(100 + 5 * t, 200), box(500, 400)], [0.3, 0.3]))
        assert ids_of(out) == [1]  # the stray low-score box never becomes a track
    assert len(tracker) == 1


def test_crossing_paths_keep_identities() -> None:
    tracker = ByteTracker(fps=25)
    final: list[tuple[int, float]] = []
    for t in range(41):
        a, b = box(100 + 10 * t, 200), box(500 - 10 * t, 210)
        visible = [a, b] if abs(a[0] - b[0]) > 30 else [a]  # b hidden behind a while they overlap
        out = tracker.update(dets(visible))
        final = sorted(zip(ids_of(out), out.xyxy[:, 0].tolist(), strict=True))
    by_id = dict(final)
    assert set(by_id) == {1, 2}
    assert by_id[1] > 450 and by_id[2] < 150  # 1 kept walking right, 2 kept walking left


def test_classes_are_not_mixed() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=1), fps=25)
    tracker.update(Detections.from_arrays([box(100, 100)], [0.9], [0]))
    out = tracker.update(Detections.from_arrays([box(101, 100)], [0.9], [1]))
    assert ids_of(out) == [2]
    assert out.class_id.tolist() == [1]


def test_empty_frames_and_outputs_are_well_formed() -> None:
    tracker = ByteTracker()
    out = tracker.update(Detections.empty())
    assert len(out) == 0 and out.track_id is not None and out.xyxy.shape == (0, 4)


def test_lost_track_whose_prediction_drifted_is_refound_by_distance() -> None:
    """Walks right, stops while hidden: the constant-velocity prediction overshoots and no longer overlaps."""
    frames = [[box(100 + 3 * t, 200)] for t in range(10)] + [[] for _ in range(15)] + [[box(127, 200)]] * 3

    def last_ids(config: TrackerConfig) -> list[int]:
        tracker = ByteTracker(config, fps=25)
        out = Detections.empty()
        for boxes in frames:
            out = tracker.update(dets(boxes) if boxes else Detections.empty())
        return ids_of(out)

    assert last_ids(TrackerConfig(lost_match_distance=0.0)) == [2]  # IoU alone: a new identity
    assert last_ids(TrackerConfig(lost_match_distance=0.5)) == [1]


def test_forget_drops_a_lost_track_so_it_is_not_refound() -> None:
    """PeopleCounter's hand-off: once a lost track's person has a new track, the lost one must not come back."""
    frames = [[box(100 + 3 * t, 200)] for t in range(10)] + [[] for _ in range(5)]
    tracker = ByteTracker(TrackerConfig(), fps=25)
    for boxes in frames:
        tracker.update(dets(boxes) if boxes else Detections.empty())
    assert tracker.ids.tolist() == [1]  # lost, kept for track_buffer_s
    tracker.forget([1, 99])  # unknown ids are ignored
    assert len(tracker) == 0
    assert ids_of(tracker.update(dets([box(127, 200)]))) == [2]
