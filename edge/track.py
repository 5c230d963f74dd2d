"""``smartstore track``: detect, track and count people in a video file; MOTChallenge output, annotated video.

Frames are detected pipelined (:meth:`Detector.stream`), tracked and counted by :class:`PeopleCounter` at the
video's own frame times. Counting keeps no images; ``blur`` hides people in the saved video.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cv2
from pydantic import ValidationError

from edge.analytics.config import CountingConfig, CountingConfigError, parse_line, parse_zone
from edge.analytics.counting import FrameResult, PeopleCounter
from edge.annotate import draw_tracks
from edge.detect import InputError, read_frames, video_fps
from edge.detector import Detector, Frame
from edge.models import ModelError
from edge.vision.detections import Detections
from edge.vision.tiling import Tiling


@dataclass(frozen=True, slots=True)
class TrackOutputs:
    """Optional outputs: MOTChallenge CSV path, annotated video path, whether to blur people in it."""

    mot: Path | None = None
    video: Path | None = None
    blur: bool = False


def counting_config(lines: Sequence[str] = (), zones: Sequence[str] = (), queues: Sequence[str] = ()) -> CountingConfig:
    """Lines, zones and queue zones in their command-line forms as a :class:`CountingConfig`.

    Raises :class:`CountingConfigError` (a ``ValueError``) with one line naming the value (``--line
    '10,10,10,10'``: zero length, ...).
    """
    try:
        return CountingConfig(
            lines=[parse_line(text, f"line{i + 1}") for i, text in enumerate(lines)],
            zones=[parse_zone(text, f"zone{i + 1}") for i, text in enumerate(zones)]
            + [parse_zone(text, f"queue{i + 1}", kind="queue") for i, text in enumerate(queues)],
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        shown = f"{where}={err['input']!r}: " if where else ""
        raise CountingConfigError(f"{shown}{message}") from None


def open_detector(
    model: str, engine: str = "auto", precision: str | None = None, device: str | None = None, conf: float = 0.1,
    tiling: Tiling | None = None,
) -> Detector:
    """The detector for tracking a file: keeps detections down to ``conf`` (the tracker's low threshold), with
    frames in flight (throughput rather than single-frame latency); the file is the one ``engine: auto`` picks
    unless ``engine``/``precision`` say otherwise. ``tiling`` runs overlapping tiles plus the whole frame."""
    return Detector.from_manifest(model, engine=engine, precision=precision, device=device, conf=conf,
                                  throughput=True, tiling=tiling)


def video_info(path: Path) -> tuple[float, int, int]:
    """``(fps, width, height)`` of a video file (fps 25 when the container does not say)."""
    first = next(read_frames(path, 1), None)
    if first is None:
        raise InputError(f"{path}: no frames")
    fps = video_fps(path)
    height, width = first[1].shape[:2]
    return (fps if 0 < fps < 1000 else 25.0), width, height


def mot_rows(frame_number: int, tracks: Detections) -> str:
    """MOTChallenge lines ``frame,id,x,y,w,h,score,-1,-1,-1`` for one frame (numbered from 1)."""
    assert tracks.track_id is not None
    xy, wh = tracks.xyxy[:, :2], tracks.xyxy[:, 2:] - tracks.xyxy[:, :2]
    return "".join(
        f"{frame_number},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1\n"
        for tid, (x, y), (w, h), s in zip(tracks.track_id, xy, wh, tracks.score, strict=True)
    )


#: called once per frame with ``(index, the person detections, the counter's result)`` (evaluation hooks)
FrameHook = Callable[[int, Detections, FrameResult], None]


def track_video(
    detector: Detector,
    path: Path,
    config: CountingConfig,
    outputs: TrackOutputs = TrackOutputs(),
    max_frames: int | None = None,
) -> dict[str, Any]:
    """Track and count people in the video at ``path``; returns the summary (frames, fps, lines, zones).

    ``config`` coordinates are checked against the frame size first (:class:`CountingConfigError` naming the
    value); a MOT file that cannot be written is an :class:`InputError`.
    ``detector`` should keep low-score detections (e.g. ``conf=config.tracker.low_thresh``) for the tracker.
    """
    start = time.perf_counter()
    fps, width, height = video_info(path)
    summary = track_frames(detector, read_frames(path, max_frames), fps, (width, height), config, outputs,
                           started=start)
    return {"video": str(path), **summary}


def track_frames(
    detector: Detector,
    frames: Iterable[tuple[int, Frame]],
    fps: float,
    size: tuple[int, int],
    config: CountingConfig,
    outputs: TrackOutputs = TrackOutputs(),
    on_frame: FrameHook | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """:func:`track_video` on ``(index, BGR frame)`` pairs of ``size`` (width, height) at ``fps``: frame ``index``
    is at ``index / fps`` seconds and row ``index + 1`` of the MOT file. ``on_frame`` sees every frame's person
    detections and counting result (what the evaluation harness scores). ``started``: the time to count from."""
    start = time.perf_counter() if started is None else started
    width, height = size
    config.check_frame(width, height)
    counter = PeopleCounter(config, fps=fps)
    try:  # None: a person-only model (nothing to filter) or one without a "person" label (everything counts)
        person = None if detector.labels == ["person"] else detector.class_id("person")
    except ModelError:
        person = None
    count, counting_s = 0, 0.0
    with ExitStack() as stack:
        try:
            mot: IO[str] | None = stack.enter_context(outputs.mot.open("w")) if outputs.mot else None
        except OSError as exc:
            raise InputError(str(exc)) from None
        writer: Any = None
        if outputs.video is not None:
            writer = cv2.VideoWriter(str(outputs.video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                raise InputError(f"{outputs.video}: cannot write a video there")
            stack.callback(writer.release)
        tagged = (((i, frame if writer is not None else None), frame) for i, frame in frames)
        for (index, frame), dets in detector.stream(tagged):
            t0 = time.perf_counter()
            people = dets if person is None else dets[dets.class_id == person]
            result = counter.update(people, ts=index / fps)
            counting_s += time.perf_counter() - t0
            count += 1
            if on_frame is not None:
                on_frame(index, people, result)
            if mot is not None:
                mot.write(mot_rows(index + 1, result.tracks))
            if writer is not None and frame is not None:
                writer.write(draw_tracks(frame, result.tracks, counter, people if outputs.blur else None))
        counter.flush()
    elapsed = time.perf_counter() - start
    return {
        "frames": count,
        "fps": round(count / elapsed, 2) if elapsed > 0 else None,
        "seconds": round(elapsed, 3),
        "counting_ms_per_frame": round(1000 * counting_s / max(count, 1), 3),
        **counter.summary(),
    }
