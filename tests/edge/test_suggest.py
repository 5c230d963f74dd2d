"""``smartstore track --suggest``: the direction and placement math on synthetic tracks, and the whole command on
real footage (vtest.avi, the TUD sequences): its line is crossed by annotated people and counts in ``smartstore
track``; a video without people warns and suggests no line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.analytics.counting import FrameResult
from edge.models import Manifest, ModelError
from edge.suggest import (
    MIN_LINE_TRACKS,
    Observed,
    camera_frames,
    clip_line,
    crossing_position,
    flow_axis,
    place_line,
    replay,
    suggest_confidence,
    suggest_line,
    tiles_for,
)
from edge.vision.detections import Detections
from smartstore import main
from tests.edge.test_track_cli import gt_crossings

SIZE = (640, 480)


@pytest.fixture(scope="module")
def model() -> str:
    try:
        manifest = Manifest.load("person-ssdlite")
        manifest.verify_file(manifest.select("openvino", "int8"))
    except ModelError as exc:
        pytest.skip(f"person-ssdlite INT8 not built ({exc}): run `smartstore models build person-ssdlite`")
    return "person-ssdlite"


def walkers(starts: list[tuple[float, float]], step: tuple[float, float], frames: int = 40,
            height: float = 100.0, score: float = 0.8) -> Observed:
    """People walking in a straight line from ``starts`` by ``step`` px per frame, as tracks at 10 fps."""
    seen = Observed(fps=10.0, size=SIZE, scale=300 / SIZE[1])
    for k in range(frames):
        feet = np.array(starts, np.float64) + k * np.array(step)
        boxes = np.stack([feet[:, 0] - 20, feet[:, 1] - height, feet[:, 0] + 20, feet[:, 1]], axis=1)
        tracks = Detections(boxes.astype(np.float32), np.full(len(feet), score, np.float32),
                            np.zeros(len(feet), np.int64), np.arange(1, len(feet) + 1, dtype=np.int64))
        seen.add(k, tracks, FrameResult(tracks))
    return seen


def test_horizontal_walkers_get_a_vertical_line_counting_them_in() -> None:
    seen = walkers([(100, 200), (120, 300), (80, 400), (250, 250)], (8, 0))  # 40 frames, 312 px to the right
    line, warning = suggest_line(seen)
    assert warning is None and line is not None
    (x0, y0), (x1, y1) = line["points"]
    assert abs(x0 - x1) <= 1 and {y0, y1} == {0, SIZE[1]}  # vertical, across the frame
    assert 250 < x0 < 392  # where all four walks overlap (x 250..392)
    assert line["in"] == 4 and line["out"] == 0 and line["tracks_crossing"] == 4  # in = the walking direction
    assert line["share"] == {"in": 1.0, "out": 0.0}
    assert "move mostly right" in line["reason"] and line["arg"].startswith("suggested=")


def test_vertical_and_diagonal_walkers_get_a_perpendicular_line() -> None:
    seen = walkers([(100, 50), (300, 60), (500, 40)], (0, 9))  # walking down
    line, _ = suggest_line(seen)
    assert line is not None
    (x0, y0), (x1, y1) = line["points"]
    assert abs(y0 - y1) <= 1 and {x0, x1} == {0, SIZE[0]} and x0 < x1  # drawn left to right: in = walking down
    assert line["in"] == 3 and "mostly down" in line["reason"]
    diagonal = [np.array([[0.0, 0.0], [100.0, 100.0]]), np.array([[50.0, 0.0], [150.0, 100.0]]),
                np.array([[0.0, 40.0], [90.0, 130.0]])]
    a, b = place_line(diagonal, SIZE)  # type: ignore[misc]
    assert abs(float(np.dot(b - a, [1, 1]))) < 0.02 * float(np.hypot(*(b - a))) * np.sqrt(2)


def test_axis_is_signed_by_the_majority_and_ignores_walk_length() -> None:
    axis = flow_axis(np.array([[-10.0, 0.0], [-12.0, 1.0], [300.0, 0.0]]))
    assert axis[0] < -0.99  # two walk left, one (long) right
    axis = flow_axis(np.array([[0.0, 5.0], [1.0, 6.0], [400.0, 0.0]]))
    assert abs(axis[1]) > 0.9  # the long horizontal walk does not outweigh two vertical ones


def test_crossing_position_and_clipping() -> None:
    spans = np.array([[0.0, 10.0], [5.0, 20.0], [6.0, 30.0], [40.0, 50.0]])
    assert 6.0 < crossing_position(spans, 45.0) < 10.0  # covered by three, not the median's lonely 40..50
    a, b = clip_line(np.array([100.0, 100.0]), np.array([1.0, 1.0]) / np.sqrt(2), SIZE)
    assert np.allclose(a, [0, 0]) and np.allclose(b, [480, 480])


def test_too_few_tracks_say_what_is_missing() -> None:
    line, warning = suggest_line(walkers([(100, 200), (300, 300)], (8, 0)))
    assert line is None and warning is not None
    assert f"at least {MIN_LINE_TRACKS} are needed" in warning and "2 track(s) walked" in warning
    line, warning = suggest_line(walkers([(100, 200), (300, 300), (400, 100)], (0.1, 0)))  # standing
    assert line is None and "0 track(s) walked" in str(warning)


def test_confidence_and_tiling_bounds() -> None:
    conf = suggest_confidence(walkers([(100, 200), (300, 300)], (8, 0), score=0.95))
    assert (conf["high_thresh"], conf["new_track_thresh"]) == (0.4, 0.5) and "keep them" in conf["reason"]
    conf = suggest_confidence(walkers([(100, 200)], (8, 0), score=0.47))
    assert (conf["high_thresh"], conf["new_track_thresh"]) == (0.4, 0.45) and "0.47" in conf["reason"]
    conf = suggest_confidence(walkers([(100, 200)], (8, 0), score=0.12))
    assert (conf["high_thresh"], conf["new_track_thresh"]) == (0.25, 0.3)  # clamped: lowered, not to the floor
    assert tiles_for(60) is None
    assert (tiles_for(30).cols, tiles_for(30).rows) == (2, 1)  # type: ignore[union-attr]
    assert (tiles_for(15).cols, tiles_for(15).rows) == (2, 2)  # type: ignore[union-attr]


def test_replay_counts_both_directions() -> None:
    right, left = walkers([(100, 100)], (10, 0)), walkers([(540, 300)], (-10, 0))
    frames = [(ts, Detections(np.concatenate([a.xyxy, b.xyxy]), np.concatenate([a.score, b.score]),
                              np.zeros(2, np.int64), np.array([1, 2])))
              for (ts, a), (_, b) in zip(right.frames, left.frames, strict=True)]
    counts = replay((np.array([320.0, 480.0]), np.array([320.0, 0.0])), frames)  # drawn upwards: in = right
    assert counts == {"in": 1, "out": 1, "tracks_crossing": 2}


def test_camera_frames_follow_capture_time(vtest_video: Path) -> None:
    fps, frames = camera_frames(str(vtest_video), 1.0)
    got = list(frames)
    assert fps == 10.0 and 5 <= len(got) <= 12  # paced at the file's own 10 fps
    indices = [i for i, _ in got]
    assert indices == sorted(set(indices)) and got[0][1].shape == (576, 768, 3)


def suggest_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    assert main(["track", *argv, "--suggest", "--json"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # one JSON object
    return json.loads(out), err


def counted(video: Path, model: str, arg: str, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    assert main(["track", str(video), "--model", model, "--line", arg, "--json"]) == 0
    counts: dict[str, int] = json.loads(capsys.readouterr().out)["lines"]["suggested"]
    return counts


@pytest.mark.slow
def test_vtest_line_counts_in_smartstore_track(vtest_video: Path, model: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    result, err = suggest_json([str(vtest_video), "--model", model], capsys)
    assert result["warnings"] == [] and err == ""
    line = result["line"]
    assert line["tracks_crossing"] >= 5, line
    assert result["confidence"]["reason"] and result["tiling"]["tiles"] is None
    counts = counted(vtest_video, model, line["arg"], capsys)
    assert counts["in"] + counts["out"] >= 5, counts


@pytest.mark.slow
@pytest.mark.parametrize("seq", ["TUD-Campus", "TUD-Stadtmitte"])
def test_tud_line_is_crossed_by_annotated_people(shared_data: Path, model: str, seq: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    video = shared_data / "mot" / seq / f"{seq}.mp4"
    result, err = suggest_json([str(video), "--model", model], capsys)
    assert "only" in err and "s of video" in err  # a few seconds: said to be short
    gt = np.loadtxt(shared_data / "mot" / seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    truth = gt_crossings(gt, tuple(np.concatenate(result["line"]["points"])))
    assert truth["in"] + truth["out"] >= 4, truth
    counts = counted(video, model, result["line"]["arg"], capsys)
    assert counts["in"] + counts["out"] > 0, counts


def test_video_without_people_warns_and_suggests_no_line(tmp_path: Path, model: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "empty-room.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
    frame = np.full((240, 320, 3), 90, np.uint8)
    cv2.rectangle(frame, (40, 60), (140, 200), (30, 120, 200), -1)  # a shelf, not a person
    for _ in range(40):
        writer.write(frame)
    writer.release()
    result, err = suggest_json([str(video), "--model", model, "--seconds", "60"], capsys)
    assert result["line"] is None and result["confidence"] is None and result["frames"] == 40
    assert "smartstore: warning: no people seen" in err and "Traceback" not in err
    (tmp_path / "none.avi").write_bytes(b"")
    result, err = suggest_json([str(tmp_path / "none.avi"), "--model", model], capsys)
    assert result["frames"] == 0 and "no frames read" in err


@pytest.mark.slow
def test_small_people_suggest_tiling_with_its_measured_cost(vtest_video: Path, model: str) -> None:
    from edge.suggest import suggest
    from edge.track import open_detector

    def opened(tiling: Any = None) -> Any:
        return open_detector(model, tiling=tiling)

    result = suggest(opened(), str(vtest_video), opened, seconds=8, small_px=80)  # as if people were half as tall
    tiling = result["tiling"]
    assert tiling["tiles"] in ("2x1", "2x2") and tiling["cost_ratio"] > 1.3, tiling
    assert "measured" in tiling["reason"]
