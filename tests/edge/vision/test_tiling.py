"""Tile windows cover the frame with overlap; tiled detection merges tiles and finds small people."""

from __future__ import annotations

import numpy as np
import pytest

from edge.detector import Detector
from edge.vision.detections import box_iou
from edge.vision.tiling import Tiling, windows
from tests.edge.models_fixtures import built_manifest, vtest_frames


@pytest.mark.parametrize(("cols", "rows", "overlap"), [(2, 2, 0.2), (3, 2, 0.25), (1, 1, 0.0)])
def test_windows_cover_with_overlap(cols: int, rows: int, overlap: float) -> None:
    tiling = Tiling(cols=cols, rows=rows, overlap=overlap, full_frame=False)
    wins = windows(768, 576, tiling)
    assert len(wins) == cols * rows
    covered = np.zeros((576, 768), bool)
    for x0, y0, x1, y1 in wins:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    if cols > 1:
        first, second = wins[0], wins[1]
        assert (first[2] - second[0]) / (first[2] - first[0]) == pytest.approx(overlap, abs=0.02)
    assert windows(768, 576, Tiling(cols=cols, rows=rows))[0] == (0, 0, 768, 576)


def test_tiled_detection_merges_and_adds_people() -> None:
    built_manifest("person-ssdlite")
    frames = vtest_frames([0, 120, 240])
    plain = Detector.from_manifest("person-ssdlite", precision="fp16", conf=0.4)
    tiled = Detector.from_manifest("person-ssdlite", precision="fp16", conf=0.4, tiling=Tiling(cols=2, rows=2))
    found_plain = found_tiled = 0
    for frame in frames:
        a, b = plain(frame), tiled(frame)
        found_plain, found_tiled = found_plain + len(a), found_tiled + len(b)
        iou = box_iou(b.xyxy, b.xyxy)
        np.fill_diagonal(iou, 0)
        assert iou.max(initial=0) <= 0.5  # merged: no duplicates left above the NMS threshold
    assert found_tiled > found_plain > 0
    streamed = [d for _, d in tiled.stream(enumerate(frames))]
    for frame, dets in zip(frames, streamed, strict=True):
        np.testing.assert_allclose(dets.xyxy, tiled(frame).xyxy, atol=0.5)
