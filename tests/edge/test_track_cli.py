"""``smartstore track`` end to end with the shipped person model: MOT quality and line counts against the
human-annotated TUD sequences, outputs on vtest.avi, and bad input reported as one line."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.models import Manifest, ModelError
from edge.vision.detections import box_iou
from smartstore import main

# Lines fixed before tuning, where the annotated people do cross (x = vertical lines drawn downwards:
# "in" is walking to the left; c in Stadtmitte is horizontal drawn left to right: "in" is walking down).
LINES = {
    "TUD-Campus": {"a": (220, 0, 220, 480), "b": (320, 0, 320, 480), "c": (380, 0, 380, 480)},
    "TUD-Stadtmitte": {"a": (440, 0, 440, 480), "b": (500, 0, 500, 480), "c": (0, 300, 640, 300)},
}


@pytest.fixture(scope="module")
def person_model() -> str:
    try:
        manifest = Manifest.load("person-ssdlite")
        manifest.verify_file(manifest.select("openvino", "int8"))
    except ModelError as exc:
        pytest.skip(f"person-ssdlite INT8 not built ({exc}): run `smartstore models build person-ssdlite`")
    return "person-ssdlite"


def run_track(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["track", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def gt_crossings(gt: np.ndarray, line: tuple[float, float, float, float]) -> dict[str, int]:
    """Crossings of the annotated tracks' feet (box bottom centre) over a line segment, frame to frame."""
    ax, ay, bx, by = line
    counts = {"in": 0, "out": 0}
    for tid in np.unique(gt[:, 1]):
        t = gt[gt[:, 1] == tid]
        t = t[np.argsort(t[:, 0])]
        feet = np.stack([t[:, 2] + t[:, 4] / 2, t[:, 3] + t[:, 5]], axis=1)
        for (px, py), (qx, qy) in itertools.pairwise(feet):
            s1 = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
            s2 = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
            if (s1 < 0) == (s2 < 0):
                continue
            # where along the line the step crosses it: must be within the segment
            denom = (bx - ax) * (qy - py) - (by - ay) * (qx - px)
            along = ((px - ax) * (qy - py) - (py - ay) * (qx - px)) / denom if denom else -1.0
            if 0 <= along <= 1:
                counts["in" if s2 >= 0 else "out"] += 1
    return counts


def mot_scores(gt: np.ndarray, tracks: np.ndarray) -> Any:
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for frame in range(1, int(gt[:, 0].max()) + 1):
        g, t = gt[gt[:, 0] == frame], tracks[tracks[:, 0] == frame]
        gb, tb = g[:, 2:6].copy(), t[:, 2:6].copy()
        gb[:, 2:] += gb[:, :2]
        tb[:, 2:] += tb[:, :2]
        iou = box_iou(gb, tb).astype(np.float64)
        acc.update(g[:, 1].astype(int), t[:, 1].astype(int), np.where(iou >= 0.5, 1 - iou, np.nan))
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"])
    return summary.iloc[0]


@pytest.fixture(scope="module")
def tud_runs(shared_data: Path, person_model: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``smartstore track`` once per TUD sequence, with the test lines, MOT output and JSON summary."""
    runs = {}
    for seq, lines in LINES.items():
        video = shared_data / "mot" / seq / f"{seq}.mp4"
        mot = tmp_path_factory.mktemp(seq) / "tracks.txt"
        line_args = [a for name, xy in lines.items() for a in ("--line", f"{name}=" + ",".join(map(str, xy)))]
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = main(
                [
                    "track",
                    str(video),
                    "--model",
                    person_model,
                    "--precision",
                    "int8",
                    *line_args,
                    "--mot",
                    str(mot),
                    "--json",
                ]
            )
        assert code == 0
        gt = np.loadtxt(shared_data / "mot" / seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
        runs[seq] = {"summary": json.loads(stdout.getvalue()), "mot": np.loadtxt(mot, delimiter=",", ndmin=2), "gt": gt}
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("seq", list(LINES))
def test_line_counts_match_the_annotated_tracks(tud_runs: dict[str, Any], seq: str) -> None:
    run = tud_runs[seq]
    compared = 0
    for name, line in LINES[seq].items():
        truth = gt_crossings(run["gt"], line)
        got = run["summary"]["lines"][name]
        for direction in ("in", "out"):
            tolerance = 1 if truth[direction] < 10 else 0.1 * truth[direction]
            assert abs(got[direction] - truth[direction]) <= tolerance, (seq, name, direction, got, truth)
            compared += truth[direction]
    assert compared >= 5  # the lines are crossed: there is something to compare


@pytest.mark.slow
def test_tracking_quality_on_tud_stadtmitte(tud_runs: dict[str, Any]) -> None:
    run = tud_runs["TUD-Stadtmitte"]
    scores = mot_scores(run["gt"], run["mot"])
    assert scores["idf1"] >= 0.6, scores
    assert scores["mota"] >= 0.5, scores


@pytest.mark.slow
def test_mot_file_format(tud_runs: dict[str, Any]) -> None:
    rows, summary = tud_runs["TUD-Campus"]["mot"], tud_runs["TUD-Campus"]["summary"]
    assert rows.shape[1] == 10 and len(rows)
    assert rows[:, 0].min() >= 1 and rows[:, 0].max() <= summary["frames"] == 71
    assert np.all(np.diff(rows[:, 0]) >= 0)  # video order
    assert np.all(rows[:, 1] >= 1) and np.all(rows[:, 4:6] > 0) and np.all(rows[:, 7:] == -1)
    for frame in np.unique(rows[:, 0]):  # one row per track per frame
        ids = rows[rows[:, 0] == frame, 1]
        assert len(ids) == len(np.unique(ids))


@pytest.mark.slow
def test_vtest_outputs(
    vtest_video: Path, person_model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video, mot = tmp_path / "out.mp4", tmp_path / "mot.txt"
    code, out, err = run_track(
        [
            str(vtest_video),
            "--model",
            person_model,
            "--max-frames",
            "60",
            "--line",
            "door=0,400,768,400",
            "--zone",
            "hall=100,200;700,200;700,570;100,570",
            "--queue",
            "till=0,0;300,0;300,300;0,300",
            "--save-video",
            str(video),
            "--blur",
            "--mot",
            str(mot),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["frames"] == 60 and summary["fps"] > 0
    assert set(summary["lines"]["door"]) == {"in", "out"}
    hall = summary["zones"]["hall"]
    assert hall["max_occupancy"] >= 2 and hall["visits"] >= 1 and hall["mean_dwell_s"] > 0  # people walk the hall
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (768, 576)
    capture.release()
    rows = np.loadtxt(mot, delimiter=",", ndmin=2)
    assert rows[:, 0].min() >= 1 and rows[:, 0].max() <= 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--line", "door=100,100,100,100"], "line 'door': segment 0 from (100.0, 100.0) to (100.0, 100.0) has zero"),
        (["--zone", "0,0;100,100;100,0;0,100"], "zone 'zone1' polygon 0,0;100,100;100,0;0,100 intersects itself"),
        (["--zone", "a=0,0;10,10;20,20"], "zone 'a' polygon 0,0;10,10;20,20 has zero area"),
        (["--line", "0,100,900,100"], "line 'line1': point (900,100) is outside the 768x576 frame"),
        (["--line", "1,2,x,4"], "'1,2,x,4' is not a list of numbers"),
        (["--line", "bad name=0,1,2,3"], "name='bad name': String should match pattern"),
    ],
)
def test_bad_lines_and_zones_are_one_line_errors(
    vtest_video: Path, person_model: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_track([str(vtest_video), "--model", person_model, *args], capsys)
    assert code == 2 and out == ""
    assert err.startswith("smartstore: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_video_and_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_track([str(tmp_path / "nope.mp4")], capsys)
    assert code == 2 and "nope.mp4: no such file" in err
    (tmp_path / "v.mp4").write_bytes(b"not a video")
    code, _, err = run_track([str(tmp_path / "v.mp4"), "--model", "no-such-model"], capsys)
    assert code == 2 and "no-such-model" in err


# --tiles and the edge service's model.tiles (these belong with tests/edge/service/test_config.py, kept here with
# the track command's --tiles so that both spellings of COLSxROWS are tested side by side).
@pytest.mark.slow
def test_track_tiles_runs_tiled(
    vtest_video: Path, person_model: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge import track

    seen: list[Any] = []
    opened = track.open_detector

    def spy(*args: Any, **kwargs: Any) -> Any:
        detector = opened(*args, **kwargs)
        seen.append(detector.tiling)
        return detector

    monkeypatch.setattr(track, "open_detector", spy)
    code, out, err = run_track([str(vtest_video), "--model", person_model, "--tiles", "2x1", "--max-frames", "5",
                                "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["frames"] == 5
    assert [(t.cols, t.rows) for t in seen] == [(2, 1)]


def test_track_tiles_is_validated(vtest_video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["track", str(vtest_video), "--tiles", "2by1"])
    assert info.value.code == 2 and "expected COLSxROWS such as 2x2, got '2by1'" in capsys.readouterr().err


def test_edge_config_model_tiles(tmp_path: Path) -> None:
    from edge.config import ConfigError, load_config

    base = "store: s1\ndevice: d1\ncameras:\n  - {id: door, source: /videos/door.mp4}\n"
    path = tmp_path / "edge.yaml"
    path.write_text(base)
    assert load_config(path).model.tiles is None  # off by default
    for text, expected in (("'2x1'", (2, 1, 0.2)), ("{cols: 3, rows: 2, overlap: 0.1}", (3, 2, 0.1))):
        path.write_text(base + f"model: {{tiles: {text}}}\n")
        tiles = load_config(path).model.tiles
        assert tiles is not None and (tiles.cols, tiles.rows, tiles.overlap) == expected
    for text, message in (("'2x'", "model.tiles = '2x': Value error, expected COLSxROWS such as 2x1"),
                          ("{cols: 0, rows: 1}", "model.tiles.cols = 0: Input should be greater than or equal to 1"),
                          ("{cols: 2, rows: 1, size: 3}", "model.tiles.size = 3: Extra inputs are not permitted")):
        path.write_text(base + f"model: {{tiles: {text}}}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert message in str(info.value), str(info.value)


@pytest.mark.slow
def test_edge_pipeline_loads_a_tiled_detector(tmp_path: Path, person_model: str) -> None:
    from edge.config import parse_config
    from edge.pipeline import load_pipeline

    config = parse_config({"store": "s1", "device": "d1", "cameras": [{"id": "door", "source": "/v.mp4"}],
                           "model": {"name": person_model, "tiles": "2x1"}}, "edge.yaml")
    detector: Any = load_pipeline(config).detector
    assert (detector.tiling.cols, detector.tiling.rows) == (2, 1)
    frame = np.zeros((480, 640, 3), np.uint8)
    assert len(detector.prepare(frame)) == 3  # the whole frame and two tiles


def _detail_kept(original: np.ndarray, saved: np.ndarray) -> float:
    """How much of ``original``'s fine detail (a face, text, a pattern: its Laplacian) is still in ``saved``: the
    correlation of the two Laplacians (about 1 for the same picture through a video codec, about 0 when hidden)."""
    a, b = (cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.CV_64F).ravel() for x in (original, saved))
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0


def _saved_detail(vtest_video: Path, person_model: str, tmp_path: Path, blur: bool) -> list[float]:
    """Per person box of the first 40 frames of vtest.avi (every box the detector returned, tracked or not), how
    much of the original frame's detail the saved video keeps (box interiors: drawn outlines and ids excluded)."""
    from edge.analytics.config import CountingConfig
    from edge.detect import read_frames
    from edge.track import TrackOutputs, open_detector, track_frames

    originals = dict(read_frames(vtest_video, 40))
    seen: dict[int, np.ndarray] = {}
    video = tmp_path / f"blur-{blur}.mp4"
    track_frames(open_detector(person_model), originals.items(), 10.0, (768, 576), CountingConfig(),
                 TrackOutputs(video=video, blur=blur), on_frame=lambda i, people, _: seen.update({i: people.xyxy}))
    saved = dict(read_frames(video))
    ratios = []
    for index, boxes in seen.items():
        for x1, y1, x2, y2 in boxes.astype(int):
            if x2 - x1 < 24 or y2 - y1 < 48:
                continue  # too small to hold a face
            mx, my = (x2 - x1) // 6, (y2 - y1) // 6  # the interior, away from the 2 px outline and the id label
            inner = (slice(max(y1, 0) + my, min(y2, 576) - my), slice(max(x1, 0) + mx, min(x2, 768) - mx))
            ratios.append(_detail_kept(originals[index][inner], saved[index][inner]))
    return ratios


def test_blur_hides_every_person_box_and_only_blurring_does(vtest_video: Path, person_model: str,
                                                              tmp_path: Path) -> None:
    """``--blur``: inside every person box the detector returned (low-score and untracked ones included) the saved
    video keeps almost none of the original detail; the same run without ``--blur`` keeps it (so the check can
    fail), i.e. what is lost is the pixelation, not the video codec."""
    plain = _saved_detail(vtest_video, person_model, tmp_path, blur=False)
    hidden = _saved_detail(vtest_video, person_model, tmp_path, blur=True)
    assert len(hidden) == len(plain) >= 40
    assert min(plain) > 0.5, sorted(plain)[:5]  # the codec alone keeps most detail (measured: median 0.97)
    assert np.median(hidden) < 0.1 and max(hidden) < 0.4, sorted(hidden)[-5:]  # measured: median 0.04, max 0.31
