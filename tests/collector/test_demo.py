"""``smartstore demo --once`` ends by itself after the video, with the edge service's events stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.demo import run_demo


def clip(source: Path, target: Path, frames: int) -> Path:
    """The first ``frames`` frames of a real video (the full vtest.avi takes a minute on this machine)."""
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(source))
    ok, frame = capture.read()
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (frame.shape[1], frame.shape[0]))
    for _ in range(frames):
        if not ok:
            break
        writer.write(frame)
        ok, frame = capture.read()
    writer.release()
    capture.release()
    return target


@pytest.mark.slow
def test_demo_once_ends_by_itself(tmp_path: Path, vtest_video: Path) -> None:
    video = clip(vtest_video, tmp_path / "clip.avi", 300)
    result = run_demo(tmp_path / "demo", once=True, video=video, api_port=0, timeout_s=240, quiet=True)
    assert result.edge_status == 0  # the edge service finished the clip and exited on its own
    assert result.events > 10 and result.footfall_in + result.footfall_out > 0
    assert [(d["device"], d["state"]) for d in result.devices] == [("edge-demo", "offline")]  # clean shutdown
    assert "#token=" in result.url and result.token in result.url
