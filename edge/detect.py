"""``smartstore detect``: run a :class:`Detector` over images and videos, one JSON-able record per image or frame."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.annotate import draw_detections
from edge.detector import Detector, Frame
from edge.engines.base import native_stderr_silenced
from edge.vision.detections import Detections
from errors import SmartstoreError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


class InputError(SmartstoreError):
    """An image or video that cannot be read."""


def read_frames(path: Path, max_frames: int | None = None) -> Iterator[tuple[int, Frame]]:
    """``(index, BGR frame)`` of an image (one) or a video (each frame, up to ``max_frames``)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{path}: cannot decode image")
        yield 0, image
        return
    with native_stderr_silenced():  # FFmpeg logs its own complaint about a broken file
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise InputError(f"{path}: cannot read as an image or a video")
    index = 0
    try:
        while ok and frame is not None and (max_frames is None or index < max_frames):
            yield index, frame
            index += 1
            ok, frame = capture.read()
    finally:
        capture.release()


def video_fps(path: Path) -> float:
    """The frame rate a video's container states; 0.0 when it does not say (and for an image)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return 0.0
    capture = cv2.VideoCapture(str(path))
    try:
        return float(capture.get(cv2.CAP_PROP_FPS) or 0.0) if capture.isOpened() else 0.0
    finally:
        capture.release()


def to_record(source: str, index: int, frame: Frame, dets: Detections, labels: Sequence[str]) -> dict[str, Any]:
    """One JSON object: boxes ``[x1, y1, x2, y2]`` in pixels, scores and labels."""
    names = np.asarray(list(labels) or ["object"], dtype=object)
    label_of = names[np.clip(dets.class_id, 0, len(names) - 1)] if len(names) else dets.class_id.astype(str)
    return {
        "source": source,
        "frame": index,
        "width": int(frame.shape[1]),
        "height": int(frame.shape[0]),
        "detections": [
            {"box": [round(float(v), 1) for v in box], "score": round(float(score), 4), "label": str(label),
             "class_id": int(cid)}
            for box, score, label, cid in zip(dets.xyxy, dets.score, label_of, dets.class_id, strict=True)
        ],
    }


def detect_paths(detector: Detector, paths: Sequence[Path], max_frames: int | None = None,
                 annotate_to: Path | None = None) -> Iterator[dict[str, Any]]:
    """Records for every image/frame of ``paths`` (pipelined through :meth:`Detector.stream`).

    Every path is opened first so that a bad one fails before any output. With ``annotate_to`` (a video path),
    frames are also written there with boxes drawn.
    """
    for path in paths:
        next(read_frames(path, 1))
    writer: Any = None
    size: tuple[int, int] = (0, 0)
    try:
        for path in paths:
            tagged = (((i, frame), frame) for i, frame in read_frames(path, max_frames))
            for (index, frame), dets in detector.stream(tagged):
                if annotate_to is not None:
                    if writer is None:
                        size = (frame.shape[1], frame.shape[0])
                        writer = cv2.VideoWriter(str(annotate_to), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, size)
                    drawn = draw_detections(frame, dets, detector.labels)
                    writer.write(drawn if drawn.shape[1::-1] == size else cv2.resize(drawn, size))
                yield to_record(str(path), index, frame, dets, detector.labels)
    finally:
        if writer is not None:
            writer.release()
