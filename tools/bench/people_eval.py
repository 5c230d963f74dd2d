"""People counting as shipped, scored on footage split into a tuning side and a held-out side (issue 16, point 4).

    PYTHONPATH=. .venv/bin/python tools/bench/people_eval.py [--tiles 2x1] [--set high_thresh=0.5 ...]
        [--tuned-on TUD-Campus TUD-Stadtmitte] [--fps 7] [--mall-step 1] [--json]

Runs the pipeline of ``smartstore track`` (:func:`edge.track.track_frames`: the same detector settings, tracker and
counters) on:

- ``TUD-Campus`` and ``TUD-Stadtmitte`` (MOTChallenge 2D MOT 2015, 25 fps) with the test lines of
  ``tests/edge/test_track_cli.py``; leave-one-sequence-out: ``--tuned-on`` names the sequences the settings were
  tuned on (today's defaults were tuned on both), every other sequence is reported as ``held-out``;
- the same sequences subsampled to ``--fps`` (default 7): the first frame of each 1/fps interval; MOT scores
  against the annotated boxes of the kept frames, line counts against crossings of the full-rate annotated tracks
  (the people who really crossed);
- ``mall`` frames 1-600 (Chen et al., every head annotated; at most 2 frames/s, fed at 2 fps / ``--mall-step``):
  recall = share of annotated heads inside a person box (one box per head), precision = share of boxes holding
  a head (one head per box: a lower bound, the dataset marks heads, not people), count error per frame =
  |boxes - annotated count|, mean and relative to the mean count. Never tuned on.

Scores: detection recall/precision at IoU 0.5 of the detector's boxes (score >= 0.25, ``smartstore detect``'s
default) and of the tracks the pipeline outputs; MOTA, IDF1, ID switches (motmetrics, IoU 0.5); per line and
direction the count against the truth (``gt_crossings``), summed as ``line_err`` = sum |got - truth| / sum truth.
Prints one table, or one JSON object per row with ``--json``. Data: ../shared/data (see its README).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.analytics.config import CountingConfig, TrackerConfig
from edge.analytics.counting import FrameResult
from edge.detect import read_frames, video_fps
from edge.detector import Detector, Frame
from edge.track import counting_config, open_detector, track_frames
from edge.vision.detections import Detections
from edge.vision.tiling import Tiling
from tests.conftest import SHARED_DATA
from tests.edge.test_track_cli import LINES, gt_crossings, mot_scores
from tools.quality import Counts

DETECT_CONF = 0.25  # smartstore detect's default: the detector's own recall/precision is scored there
MALL_FPS = 2.0


@dataclass
class Collected:
    """Per processed frame: the original frame number, the person detections and the tracks."""

    frames: list[int] = field(default_factory=list)
    dets: list[Detections] = field(default_factory=list)
    tracks: list[Detections] = field(default_factory=list)

    def hook(self, numbers: Sequence[int]) -> Any:
        def on_frame(index: int, dets: Detections, result: FrameResult) -> None:
            self.frames.append(numbers[index])
            self.dets.append(dets)
            self.tracks.append(result.tracks)
        return on_frame


def kept_indices(total: int, source_fps: float, target_fps: float | None) -> list[int]:
    """0-based frame indices kept when ``source_fps`` footage is subsampled to ``target_fps`` (None: all)."""
    if target_fps is None or target_fps >= source_fps:
        return list(range(total))
    slot = np.floor(np.arange(total) * target_fps / source_fps)
    return [int(i) for i in np.flatnonzero(np.diff(slot, prepend=-1.0) > 0)]


def subsampled(frames: Iterator[tuple[int, Frame]], keep: Sequence[int]) -> Iterator[tuple[int, Frame]]:
    """The kept frames renumbered 0, 1, 2, ... (frame ``k`` at ``k / fps`` seconds, MOT row ``k + 1``)."""
    wanted = {index: k for k, index in enumerate(keep)}
    for index, frame in frames:
        if index in wanted:
            yield wanted[index], frame


def gt_boxes(gt: np.ndarray, frame: int) -> np.ndarray:
    rows = gt[gt[:, 0] == frame]
    return np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], axis=1).astype(np.float32)


def box_scores(collected: Collected, gt: np.ndarray) -> dict[str, float]:
    """Recall/precision at IoU 0.5 of the detector's boxes (score >= 0.25) and of the tracks."""
    det, trk = Counts(), Counts()
    for frame, dets, tracks in zip(collected.frames, collected.dets, collected.tracks, strict=True):
        truth = gt_boxes(gt, frame)
        det.add(dets.xyxy[dets.score >= DETECT_CONF], truth)
        trk.add(tracks.xyxy, truth)
    return {"det_recall": det.recall, "det_precision": det.precision, "trk_recall": trk.recall,
            "trk_precision": trk.precision}


def mot_rows(collected: Collected, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tracks and the annotated boxes of the processed frames, both renumbered 1, 2, ... in processing order."""
    renumber = {frame: k + 1 for k, frame in enumerate(collected.frames)}
    rows = []
    for k, tracks in enumerate(collected.tracks):
        assert tracks.track_id is not None
        for tid, (x0, y0, x1, y1) in zip(tracks.track_id, tracks.xyxy, strict=True):
            rows.append([k + 1, tid, x0, y0, x1 - x0, y1 - y0])
    sub = gt[np.isin(gt[:, 0], list(renumber))].copy()
    sub[:, 0] = [renumber[int(f)] for f in sub[:, 0]]
    return np.asarray(rows, np.float64).reshape(-1, 6), sub


def line_scores(summary: dict[str, Any], gt: np.ndarray,
                lines: Mapping[str, tuple[int, int, int, int]]) -> dict[str, Any]:
    counts = {name: {"got": summary["lines"][name], "truth": gt_crossings(gt, xy)} for name, xy in lines.items()}
    err = sum(abs(c["got"][d] - c["truth"][d]) for c in counts.values() for d in ("in", "out"))
    truth = sum(c["truth"][d] for c in counts.values() for d in ("in", "out"))
    return {"lines": counts, "line_abs_err": err, "line_truth": truth, "line_err": err / max(truth, 1)}


def run_tud(detector: Detector, seq: str, tracker: TrackerConfig, fps: float | None) -> dict[str, Any]:
    """One TUD sequence at its own rate (``fps`` None) or subsampled to ``fps``."""
    folder = SHARED_DATA / "mot" / seq
    video = folder / f"{seq}.mp4"
    gt = np.loadtxt(folder / "gt" / "gt.txt", delimiter=",", ndmin=2)
    source_fps = video_fps(video) or 25.0
    total = sum(1 for _ in read_frames(video))
    keep = kept_indices(total, source_fps, fps)
    lines = LINES[seq]
    config = counting_config([f"{n}=" + ",".join(map(str, xy)) for n, xy in lines.items()])
    config = CountingConfig(tracker=tracker, lines=config.lines)
    height, width = next(read_frames(video, 1))[1].shape[:2]
    collected = Collected()
    summary = track_frames(detector, subsampled(read_frames(video), keep), fps or source_fps, (width, height),
                           config, on_frame=collected.hook([i + 1 for i in keep]))
    tracks, sub_gt = mot_rows(collected, gt)
    mot = mot_scores(sub_gt, tracks)
    return {"frames": summary["frames"], "fps_run": summary["fps"], **box_scores(collected, gt),
            "mota": float(mot["mota"]), "idf1": float(mot["idf1"]), "id_switches": int(mot["num_switches"]),
            **line_scores(summary, gt, lines)}


def heads_matched(heads: np.ndarray, boxes: np.ndarray) -> int:
    """Heads inside a box, one box per head and one head per box (optimal assignment)."""
    if not len(heads) or not len(boxes):
        return 0
    inside = ((heads[:, None, 0] >= boxes[None, :, 0]) & (heads[:, None, 0] <= boxes[None, :, 2])
              & (heads[:, None, 1] >= boxes[None, :, 1]) & (heads[:, None, 1] <= boxes[None, :, 3]))
    rows, cols = linear_sum_assignment(-inside.astype(np.float64))
    return int(inside[rows, cols].sum())


def mall_scores(collected: Collected, heads: dict[int, np.ndarray]) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind, sets in (("det", [d[d.score >= DETECT_CONF] for d in collected.dets]), ("trk", collected.tracks)):
        found = total = boxes = 0
        errors, truth = [], []
        for frame, dets in zip(collected.frames, sets, strict=True):
            h = heads[frame]
            found += heads_matched(h, dets.xyxy)
            total, boxes = total + len(h), boxes + len(dets)
            errors.append(len(dets) - len(h))
            truth.append(len(h))
        out[f"{kind}_recall"] = found / max(total, 1)
        out[f"{kind}_precision"] = found / max(boxes, 1)
        out[f"{kind}_count_mae"] = float(np.mean(np.abs(errors)))
        out[f"{kind}_count_rel"] = float(np.sum(np.abs(errors)) / max(np.sum(truth), 1))
        out[f"{kind}_count_bias"] = float(np.mean(errors))
    return out


def run_mall(detector: Detector, tracker: TrackerConfig, step: int) -> dict[str, Any]:
    folder = SHARED_DATA / "mall"
    heads = {}
    with (folder / "heads.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            heads[int(row["frame"])] = np.asarray(row["heads"], np.float64).reshape(-1, 2)
    numbers = sorted(heads)[::step]

    def frames() -> Iterator[tuple[int, Frame]]:
        for k, n in enumerate(numbers):
            image = cv2.imread(str(folder / "frames" / f"seq_{n:06d}.jpg"), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"{folder}/frames/seq_{n:06d}.jpg: cannot read")
            yield k, image

    height, width = next(frames())[1].shape[:2]
    collected = Collected()
    summary = track_frames(detector, frames(), MALL_FPS / step, (width, height), CountingConfig(tracker=tracker),
                           on_frame=collected.hook(numbers))
    return {"frames": summary["frames"], "fps_run": summary["fps"], **mall_scores(collected, heads)}


def tracker_config(settings: Sequence[str]) -> TrackerConfig:
    """``--set key=value`` overrides of the tracker defaults (validated by :class:`TrackerConfig`)."""
    values = dict(item.split("=", 1) for item in settings)
    return TrackerConfig(**values)  # type: ignore[arg-type]


COLUMNS = (("case", "{}"), ("split", "{}"), ("frames", "{}"), ("det_recall", "{:.3f}"), ("det_precision", "{:.3f}"),
           ("trk_recall", "{:.3f}"), ("trk_precision", "{:.3f}"), ("mota", "{:.3f}"), ("idf1", "{:.3f}"),
           ("id_switches", "{}"), ("line_err", "{:.3f}"), ("trk_count_mae", "{:.2f}"), ("trk_count_rel", "{:.3f}"),
           ("fps_run", "{}"))


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        out.append("| " + " | ".join(fmt.format(row[n]) if n in row else "-" for n, fmt in COLUMNS) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="person-ssdlite")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--precision", default=None, help="default: what smartstore track picks on this box")
    parser.add_argument("--tiles", default=None, metavar="COLSxROWS", help="tiled inference, as smartstore track")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="tracker option override")
    parser.add_argument("--tuned-on", nargs="*", default=list(LINES), help="TUD sequences the settings were tuned "
                        "on (default: both, as today's defaults); the others are reported as held-out")
    parser.add_argument("--fps", type=float, nargs="*", default=[7.0], help="also run TUD subsampled to these")
    parser.add_argument("--mall-step", type=int, default=1, help="every Nth mall frame (0: skip the mall)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"no shared data at {SHARED_DATA}", file=sys.stderr)
        return 2
    tracker = tracker_config(args.set)
    tiling = None
    if args.tiles:
        cols, rows = (int(v) for v in args.tiles.split("x"))
        tiling = Tiling(cols=cols, rows=rows)
    detector = open_detector(args.model, args.engine, args.precision, None, tracker.low_thresh, tiling)
    setup = {"model": args.model, "engine": detector.file.engine, "precision": detector.file.precision,
             "tiles": args.tiles, "tracker": args.set}
    results = []
    for rate in [None, *args.fps]:
        for seq in LINES:
            row = run_tud(detector, seq, tracker, rate)
            # footage tuned on, at another frame rate: not held out, but the rate was never tuned for
            split = "held-out" if seq not in args.tuned_on else "tuned" if rate is None else "tuned-footage"
            results.append({"case": seq + (f"@{rate:g}fps" if rate else ""), "split": split, **row})
    if args.mall_step > 0:
        results.append({"case": "mall", "split": "held-out", **run_mall(detector, tracker, args.mall_step)})
    for row in results:
        row.update(setup)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print(f"{args.model} {setup['engine']}/{setup['precision']}, tiles {args.tiles or 'none'}, tracker "
              f"overrides {args.set or 'none'}; tuned on {args.tuned_on or 'nothing'}")
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
