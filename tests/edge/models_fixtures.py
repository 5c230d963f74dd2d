"""Helpers shared by the edge vision tests: the shipped person model and real frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.models import Manifest, ModelError

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def built_manifest(name: str) -> Manifest:
    """The manifest of ``models/<name>``, skipping the test when it is not built (``make models`` builds it)."""
    try:
        manifest = Manifest.load(name)
    except ModelError as exc:
        pytest.skip(f"model {name} not built ({exc}); run: smartstore models build {name}")
    missing = [error for _, error in manifest.verify() if error]
    if missing:
        pytest.skip(f"model {name} not built: {missing[0]}")
    return manifest


def vtest_frames(indices: list[int]) -> list[np.ndarray]:
    """Real pedestrian frames (BGR) from OpenCV's vtest.avi, skipping when opencv-doc is not installed."""
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing: apt-get install opencv-doc")
    capture = cv2.VideoCapture(str(VTEST))
    frames, index = [], 0
    wanted = set(indices)
    while wanted:
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            frames.append(frame)
            wanted.discard(index)
        index += 1
    capture.release()
    return frames
