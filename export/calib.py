"""Calibration images: real frames from image folders and videos, prepared like the runtime prepares frames.

INT8 calibration needs enough varied, real images; :func:`load` refuses fewer than ``MIN_IMAGES`` with a message
that says how many it found and how many it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.models import InputSpec
from edge.vision.preprocess import fit, to_tensor
from export.common import ExportError

MIN_IMAGES = 16
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov"}


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def video_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over a video (BGR)."""
    cap = cv2.VideoCapture(str(path))
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        for index in np.linspace(0, max(total - 1, 0), num=min(count, max(total, 1))).astype(int):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = cap.read()
            if ok:
                frames.append(frame)
        return frames
    finally:
        cap.release()


def collect(sources: Sequence[Path], count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR images from image files, folders and videos (folders and videos share what single
    images leave, taken evenly over each)."""
    for source in sources:
        if not source.exists():
            raise ExportError(f"calibration source {source} does not exist (give a folder of images or a video)")
        if not source.is_dir() and source.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise ExportError(f"calibration source {source}: not a folder, image or video "
                              f"({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
    singles = [s for s in sources if s.suffix.lower() in IMAGE_SUFFIXES and not s.is_dir()]
    images = [img for img in (cv2.imread(str(p)) for p in singles) if img is not None][:count]
    many = [s for s in sources if s not in singles]
    for i, source in enumerate(many):
        quota = -(-(count - len(images)) // (len(many) - i))
        if source.is_dir():
            files = image_files(source)
            if len(files) > quota:
                files = [files[j] for j in np.linspace(0, len(files) - 1, quota).astype(int)]
            images.extend(img for img in (cv2.imread(str(p)) for p in files) if img is not None)
        else:
            images.extend(video_frames(source, quota))
    return images[:count]


def load(sources: Sequence[Path], spec: InputSpec, count: int = 64, minimum: int = MIN_IMAGES) -> np.ndarray:
    """``[N, ...]`` calibration batch from real images, prepared exactly as the runtime prepares frames for a model
    with input ``spec``; refuses fewer than ``minimum`` images."""
    images = collect(sources, count)
    if len(images) < minimum:
        names = ", ".join(str(s) for s in sources)
        raise ExportError(f"too few calibration images in {names}: found {len(images)}, need at least {minimum} "
                          f"(add more real images or a video)")
    return np.concatenate([to_tensor(fit(img, spec)[0], spec) for img in images])
