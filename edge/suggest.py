"""``smartstore track SOURCE --suggest``: watch a camera for a while and propose its counting set-up, with reasons.

Reads up to ``seconds`` of a video file or a camera (URL or device, through :class:`edge.capture.Camera`), runs the
detector at the tracker's low threshold and the tracker as ``smartstore track`` does (:func:`edge.track.track_frames`),
and proposes:

- **confidence**: ``high_thresh`` = the per-track median score that 80 % of the confirmed tracks reach, and
  ``new_track_thresh`` = the best-frame score that 80 % reach (floored to 0.05, clamped to a sane range), where
  these are below the defaults (never raised);
- **tiling**: ``--tiles 2x1`` when the median person is under ``SMALL_PX`` tall at model scale (2x2 under
  ``TINY_PX``), with the measured cost of tiled against untiled inference on a few of the frames;
- **a counting line**: perpendicular to the principal axis of the tracks' foot displacements, where the most tracks
  cross (ties: nearest the median foot position along the flow), across the whole frame, drawn so that ``in`` is the
  main walking direction; replayed through :class:`LineCounter` on the observed tracks to say how many cross it.

Anything it cannot suggest (no frames, no people, too few walking tracks) is a warning naming what is missing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.analytics.config import CountingConfig, LineConfig, TrackerConfig
from edge.analytics.counting import FrameResult
from edge.analytics.lines import LineCounter
from edge.capture import Camera, source_kind
from edge.config import CameraConfig
from edge.detect import InputError, read_frames, video_fps
from edge.detector import Detector, Frame
from edge.track import track_frames
from edge.vision.detections import Detections
from edge.vision.tiling import Tiling

SMALL_PX = 40.0  # median person height at model-input scale below which tiling 2x1 is suggested
TINY_PX = 20.0  # ... and 2x2 below this
MIN_TRACK_FRAMES = 5  # a confirmed track seen in fewer frames is not used (a flicker, not a person)
WALK_HEIGHTS = 0.25  # a track whose feet moved this many of its box heights (start to end) is walking
MIN_LINE_TRACKS = 3  # walking tracks needed to place a line
MIN_SECONDS = 30.0  # less footage than this (and than asked for) is called short
SAMPLE_FRAMES = 6  # frames kept for the tiling timing
NO_FRAME_S = 10.0  # a camera that delivers nothing for this long has ended
HIGH_RANGE, NEW_RANGE = (0.25, 0.6), (0.3, 0.7)
DEFAULTS = TrackerConfig()
LINE_NAME = "suggested"


@dataclass
class Observed:
    """What the run saw: per frame the video time and tracks, per track its frames, and a few sample frames."""

    fps: float
    size: tuple[int, int]
    scale: float  # frame pixels -> model-input pixels (vertical)
    frames: list[tuple[float, Detections]] = field(default_factory=list)
    feet: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    heights: dict[int, list[float]] = field(default_factory=dict)
    scores: dict[int, list[float]] = field(default_factory=dict)
    samples: list[Frame] = field(default_factory=list)

    def add(self, index: int, _people: Detections, result: FrameResult) -> None:
        tracks = result.tracks
        self.frames.append((index / self.fps, tracks))
        assert tracks.track_id is not None
        for tid, (x, y), box, score in zip(tracks.track_id.tolist(), tracks.anchors(), tracks.xyxy, tracks.score,
                                           strict=True):
            self.feet.setdefault(tid, []).append((float(x), float(y)))
            self.heights.setdefault(tid, []).append(float(box[3] - box[1]))
            self.scores.setdefault(tid, []).append(float(score))

    def kept(self) -> list[int]:
        """Ids of the confirmed tracks seen in at least ``MIN_TRACK_FRAMES`` frames."""
        return [tid for tid, points in self.feet.items() if len(points) >= MIN_TRACK_FRAMES]


def camera_frames(source: str, seconds: float) -> tuple[float, Iterator[tuple[int, Frame]]]:
    """``(fps, (index, frame) ...)`` of a camera for ``seconds``; indices follow capture time (dropped frames
    leave gaps), so ``index / fps`` is the frame's time."""
    camera = Camera(CameraConfig(id="suggest", source=source))
    camera.start()
    first = camera.read(timeout=NO_FRAME_S)
    fps = camera.fps if camera.fps and 0 < camera.fps < 1000 else 25.0

    def frames() -> Iterator[tuple[int, Frame]]:
        try:
            frame, last = first, -1
            while frame is not None and first is not None and frame.mono - first.mono < seconds:
                last = max(last + 1, round((frame.mono - first.mono) * fps))
                yield last, frame.image
                frame = camera.read(timeout=NO_FRAME_S)
        finally:
            camera.stop()

    return fps, frames()


def source_frames(source: str, seconds: float) -> tuple[float, Iterator[tuple[int, Frame]]]:
    """A file through :func:`read_frames` (its first ``seconds``), anything else through :func:`camera_frames`."""
    if source_kind(source) != "file":
        return camera_frames(source, seconds)
    path = Path(source)
    fps = video_fps(path)
    fps = fps if 0 < fps < 1000 else 25.0
    return fps, read_frames(path, max(1, math.ceil(seconds * fps)))


def observe(detector: Detector, source: str, seconds: float) -> Observed | None:
    """Track people in up to ``seconds`` of ``source`` as ``smartstore track`` does; None when no frame is read."""
    fps, frames = source_frames(source, seconds)
    try:
        first = next(frames, None)
    except InputError:
        if not Path(source).is_file():
            raise
        first = None  # a file that holds no frame: a warning, not an error
    if first is None:
        return None
    height, width = first[1].shape[:2]
    spec = detector.manifest.input
    scale = min(spec.width / width, spec.height / height) if spec.resize == "letterbox" else spec.height / height
    seen = Observed(fps, (width, height), scale)

    def kept(index: int, frame: Frame) -> tuple[int, Frame]:
        if len(seen.samples) < SAMPLE_FRAMES and index % max(1, round(fps)) == 0:
            seen.samples.append(frame.copy())
        return index, frame

    stream = (kept(i, f) for i, f in _chain(first, frames))
    track_frames(detector, stream, fps, (width, height), CountingConfig(), on_frame=seen.add)
    return seen


def _chain(first: tuple[int, Frame], rest: Iterator[tuple[int, Frame]]) -> Iterator[tuple[int, Frame]]:
    yield first
    yield from rest


def _floor(value: float, step: float = 0.05) -> float:
    return round(math.floor(value / step + 1e-9) * step, 2)


def suggest_confidence(seen: Observed, share: float = 0.8) -> dict[str, Any]:
    """Thresholds that ``share`` of the confirmed tracks clear: by their median score (``high_thresh``: the track
    keeps being followed in its typical frame) and by their best score (``new_track_thresh``: it can start).
    Only ever lowers the defaults (people scoring under them); raising them to what tracks reach cost identities
    on TUD (docs/counting.md), and nothing here can tell a false track from a person."""
    ids = seen.kept()
    medians = np.array([np.median(seen.scores[t]) for t in ids])
    peaks = np.array([np.max(seen.scores[t]) for t in ids])
    q = 100 * (1 - share)
    typical, best = float(np.percentile(medians, q)), float(np.percentile(peaks, q))
    high = float(np.clip(min(DEFAULTS.high_thresh, _floor(typical)), *HIGH_RANGE))
    new = float(np.clip(min(DEFAULTS.new_track_thresh, _floor(best)), max(high, NEW_RANGE[0]), NEW_RANGE[1]))
    kept = (high, new) == (DEFAULTS.high_thresh, DEFAULTS.new_track_thresh)
    reason = (f"{share:.0%} of the {len(ids)} confirmed tracks have a median score >= {typical:.2f} and a best "
              f"score >= {best:.2f} (median of the medians {np.median(medians):.2f}); "
              + ("both are above the defaults 0.4 / 0.5, so keep them" if kept else
                 f"lowered from the defaults 0.4 / 0.5 to these (floored to 0.05, at least {HIGH_RANGE[0]} / "
                 f"{NEW_RANGE[0]})") + "; never raised: higher thresholds lose people and identities")
    return {"high_thresh": high, "new_track_thresh": new,
            "yaml": f"tracker: {{high_thresh: {high:g}, new_track_thresh: {new:g}}}", "reason": reason}


def tiles_for(height_px: float) -> Tiling | None:
    """The tiling for a median person ``height_px`` tall at model-input scale: 2x2, 2x1 or none."""
    if height_px < TINY_PX:
        return Tiling(cols=2, rows=2)
    return Tiling(cols=2, rows=1) if height_px < SMALL_PX else None


def timed(detector: Detector, frames: list[Frame]) -> float:
    """Mean seconds of one synchronous call on ``frames`` (after one warm-up call)."""
    detector(frames[0])
    start = time.perf_counter()
    for frame in frames:
        detector(frame)
    return (time.perf_counter() - start) / len(frames)


def suggest_tiling(seen: Observed, detector: Detector, tiled: Callable[[Tiling], Detector],
                   small_px: float = SMALL_PX) -> dict[str, Any]:
    """Tiling from the median person height at model scale; when suggested, the measured cost ratio."""
    height = float(np.median([np.median(seen.heights[t]) for t in seen.kept()])) * seen.scale
    tiling = tiles_for(height * SMALL_PX / small_px)
    bound = f"{small_px:g} px ({TINY_PX * small_px / SMALL_PX:g} px for 2x2)"
    if tiling is None:
        return {"tiles": None, "median_height_model_px": round(height, 1), "cost_ratio": None,
                "reason": f"the median person is {height:.0f} px tall at the model's input scale, not under {bound}"}
    name = f"{tiling.cols}x{tiling.rows}"
    ratio = timed(tiled(tiling), seen.samples) / timed(detector, seen.samples)
    return {"tiles": name, "median_height_model_px": round(height, 1), "cost_ratio": round(ratio, 2),
            "reason": f"the median person is {height:.0f} px tall at the model's input scale, under {bound}; "
                      f"--tiles {name} measured {ratio:.1f}x the inference time of untiled on "
                      f"{len(seen.samples)} frames of this source"}


def flow_axis(displacements: np.ndarray) -> np.ndarray:
    """Unit vector of the principal axis of ``displacements`` (N x 2; each counts as its direction only, so one
    long walk does not outweigh several short ones), signed so that most point along it."""
    unit = displacements / np.maximum(np.hypot(displacements[:, 0], displacements[:, 1]), 1e-9)[:, None]
    scatter = unit.T @ unit
    _, vectors = np.linalg.eigh(scatter)
    axis = vectors[:, -1]
    along = displacements @ axis
    return -axis if np.count_nonzero(along < 0) > np.count_nonzero(along > 0) else axis


def crossing_position(spans: np.ndarray, median: float) -> float:
    """Position along the flow covered by the most ``spans`` (N x 2, [min, max]); ties: nearest ``median``."""
    grid = np.linspace(spans[:, 0].min(), spans[:, 1].max(), 401)
    cover = ((spans[:, :1] < grid[None]) & (grid[None] < spans[:, 1:])).sum(axis=0)
    best = grid[cover == cover.max()]
    return float(best[np.argmin(np.abs(best - median))])


def clip_line(point: np.ndarray, direction: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The part of the infinite line through ``point`` along ``direction`` inside the ``size`` frame."""
    lo, hi = -np.inf, np.inf
    for k, limit in enumerate(size):
        if abs(direction[k]) < 1e-12:
            continue
        a, b = (0 - point[k]) / direction[k], (limit - point[k]) / direction[k]
        lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    return point + lo * direction, point + hi * direction


def place_line(feet: list[np.ndarray], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """A counting line for walking tracks' foot paths (each M x 2): perpendicular to the main flow where most
    tracks cross, across the frame, drawn so that ``in`` (its right-hand side on screen) is the main direction."""
    axis = flow_axis(np.array([f[-1] - f[0] for f in feet]))
    every = np.concatenate(feet)
    spans = np.array([[(f @ axis).min(), (f @ axis).max()] for f in feet])
    along = crossing_position(spans, float(np.median(every @ axis)))
    normal = np.array([axis[1], -axis[0]])  # drawing direction: its right-hand normal on screen is ``axis``
    centre = along * axis + float(np.median(every @ normal)) * normal
    centre = np.clip(centre, 0, size)
    a, b = clip_line(centre, normal, size)
    a, b = np.clip(np.round(a), 0, size), np.clip(np.round(b), 0, size)
    return (a, b) if np.hypot(*(b - a)) >= 1 else None


def replay(points: tuple[np.ndarray, np.ndarray], frames: list[tuple[float, Detections]]) -> dict[str, Any]:
    """The observed tracks through a :class:`LineCounter` on ``points``: crossings and distinct tracks."""
    counter = LineCounter(LineConfig(name=LINE_NAME, points=[(float(p[0]), float(p[1])) for p in points]))
    ids: set[int] = set()
    for ts, tracks in frames:
        ids.update(c.track_id for c in counter.update(tracks, ts))
    return {"in": counter.count_in, "out": counter.count_out, "tracks_crossing": len(ids)}


def walking(seen: Observed) -> list[np.ndarray]:
    """Foot paths of the kept tracks that moved at least ``WALK_HEIGHTS`` of their median height."""
    paths = [(np.array(seen.feet[t]), float(np.median(seen.heights[t]))) for t in seen.kept()]
    return [p for p, h in paths if np.hypot(*(p[-1] - p[0])) >= WALK_HEIGHTS * h]


def suggest_line(seen: Observed) -> tuple[dict[str, Any] | None, str | None]:
    """The line and its reason, or None and a warning that says what is missing."""
    feet = walking(seen)
    if len(feet) < MIN_LINE_TRACKS:
        return None, (f"no line: {len(feet)} track(s) walked at least {WALK_HEIGHTS:g} of their height "
                      f"({len(seen.kept())} confirmed tracks of {MIN_TRACK_FRAMES}+ frames); at least "
                      f"{MIN_LINE_TRACKS} are needed: read longer (--seconds) or at a busier time")
    placed = place_line(feet, seen.size)
    if placed is None:
        return None, "no line: the flow's crossing place is outside the frame"
    counts = replay(placed, seen.frames)
    total = counts["in"] + counts["out"]
    axis = flow_axis(np.array([f[-1] - f[0] for f in feet]))
    heading = ("right" if axis[0] > 0 else "left") if abs(axis[0]) >= abs(axis[1]) else (
        "down" if axis[1] > 0 else "up")
    coords = ",".join(f"{v:g}" for v in np.concatenate(placed))
    share = {d: round(counts[d] / total, 3) if total else None for d in ("in", "out")}
    reason = (f"{len(feet)} walking tracks move mostly {heading} (axis {axis[0]:+.2f},{axis[1]:+.2f}); the line is "
              f"perpendicular to that, where the most of them cross; replayed on the observed tracks "
              f"{counts['tracks_crossing']} of the {len(feet)} cross it ({total} crossings: in {counts['in']}, out "
              f"{counts['out']}; 'in' = walking {heading}, reverse the points to flip)")
    warning = None if counts["tracks_crossing"] >= MIN_LINE_TRACKS else (
        f"the line is crossed by only {counts['tracks_crossing']} track(s): read longer (--seconds)")
    return {"arg": f"{LINE_NAME}={coords}", "points": [list(map(float, p)) for p in placed],
            "tracks": len(feet), **counts, "share": share, "reason": reason}, warning


def suggest(detector: Detector, source: str, tiled: Callable[[Tiling], Detector], seconds: float = 120.0,
            small_px: float = SMALL_PX) -> dict[str, Any]:
    """The whole suggestion for ``source`` as one JSON-able dict (``warnings``: what could not be suggested).
    ``tiled`` opens the same detector with a tiling (for the timing); ``small_px`` is the tiling bound."""
    out: dict[str, Any] = {"source": source, "frames": 0, "seconds": 0.0, "confidence": None, "tiling": None,
                           "line": None, "warnings": []}
    seen = observe(detector, source, seconds)
    if seen is None:
        waited = "" if source_kind(source) == "file" else f" in {NO_FRAME_S:g} s"
        out["warnings"].append(f"{source}: no frames read{waited}: nothing to suggest")
        return out
    read_s = round(len(seen.frames) / seen.fps, 2)
    out.update(frames=len(seen.frames), seconds=read_s, fps=seen.fps, size=list(seen.size),
               tracks=len(seen.kept()))
    if read_s < min(seconds, MIN_SECONDS):
        out["warnings"].append(f"only {read_s:g} s of video (asked for {seconds:g} s): the suggestion rests on few "
                               f"people")
    if not seen.kept():
        out["warnings"].append(f"no people seen: no confirmed track of {MIN_TRACK_FRAMES}+ frames in {read_s:g} s; "
                               f"nothing to suggest (is the camera pointed at where people walk?)")
        return out
    out["confidence"] = suggest_confidence(seen)
    out["tiling"] = suggest_tiling(seen, detector, tiled, small_px)
    out["line"], warning = suggest_line(seen)
    if warning:
        out["warnings"].append(warning)
    return out


def describe(result: dict[str, Any]) -> str:
    """The suggestion as text, one item and its reason per paragraph."""
    lines = [f"suggestion from {result['frames']} frames ({result['seconds']:g} s) of {result['source']}: "
             f"{result.get('tracks', 0)} confirmed tracks"]
    conf, tiling, line = result["confidence"], result["tiling"], result["line"]
    if conf:
        lines += [f"confidence: {conf['yaml']}", f"  because {conf['reason']}"]
    if tiling:
        lines += [f"tiling: {'--tiles ' + tiling['tiles'] if tiling['tiles'] else 'no tiling'}",
                  f"  because {tiling['reason']}"]
    if line:
        lines += [f"line: --line {line['arg']}", f"  because {line['reason']}"]
    return "\n".join(lines)


def suggest_command(args: Any) -> int:
    """``smartstore track SOURCE --suggest``: print the suggestion (one JSON object with ``--json``); warnings go to
    stderr. Status 0 (a warning is not an error)."""
    import json
    import sys

    from edge.track import open_detector

    def opened(tiling: Tiling | None = None) -> Detector:
        return open_detector(args.model, args.engine, args.precision, args.device, DEFAULTS.low_thresh, tiling)

    result = suggest(opened(), str(args.video), opened, seconds=args.seconds)
    for warning in result["warnings"]:
        print(f"smartstore: warning: {warning}", file=sys.stderr)
    print(json.dumps(result) if args.json else describe(result))
    return 0
