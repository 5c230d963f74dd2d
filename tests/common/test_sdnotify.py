"""sd_notify client and frame watchdog against a real AF_UNIX datagram socket owned by the test."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.sdnotify import FrameWatchdog, Notifier, socket_address, watchdog_interval


class NotifySocket:
    """The systemd side: a bound datagram socket collecting what the service sends."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float) -> list[str]:
        """Collect datagrams for ``seconds``; returns those received in this call."""
        got: list[str] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))
            got.append(data.decode())
        return got

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifySocket]:
    address = str(tmp_path / "n.sock") if request.param == "path" else f"@smartstore-test-{uuid.uuid4().hex}"
    server = NotifySocket(address)
    yield server
    server.close()


def test_notify_messages_arrive_verbatim(notify_socket: NotifySocket) -> None:
    notifier = Notifier(notify_socket.address)
    assert notifier.ready(status="warming up")
    assert notifier.status("12.5 fps")
    assert notifier.watchdog()
    assert notifier.stopping()
    got = notify_socket.drain(0.3)
    assert got == ["READY=1\nSTATUS=warming up", "STATUS=12.5 fps", "WATCHDOG=1", "STOPPING=1"]


def test_disabled_without_socket_and_counts_send_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled
    assert Notifier().ready() is False
    gone = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert gone.watchdog() is False and gone.errors == 1


def test_watchdog_usec_parsing() -> None:
    pid = os.getpid()
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(pid)}) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(pid + 1)}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_watchdog_interval_defaults_to_half_of_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert FrameWatchdog(Notifier("")).interval_s == 1.0


def test_watchdog_pings_only_while_real_frames_flow(notify_socket: NotifySocket, vtest_video: Path) -> None:
    """A real frame loop (vtest.avi, frame differencing) beats the watchdog; stalling it stops WATCHDOG=1."""
    import cv2
    import numpy as np

    notifier = Notifier(notify_socket.address)
    watchdog = FrameWatchdog(notifier, interval_s=0.1)
    running, stalled, done = threading.Event(), threading.Event(), threading.Event()
    running.set()
    motion: list[int] = []

    def frame_loop() -> None:
        capture = cv2.VideoCapture(str(vtest_video))
        previous: np.ndarray | None = None
        try:
            while not done.is_set():
                if not running.is_set():
                    stalled.set()
                    running.wait()
                ok, frame = capture.read()
                if not ok:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                gray = cv2.cvtColor(cv2.resize(frame, (192, 144)), cv2.COLOR_BGR2GRAY)
                if previous is not None:
                    motion.append(int(np.count_nonzero(cv2.absdiff(gray, previous) > 25)))
                previous = gray
                watchdog.beat()
                time.sleep(0.01)
        finally:
            capture.release()

    worker = threading.Thread(target=frame_loop, daemon=True)
    with watchdog:
        notifier.ready()
        worker.start()
        flowing = notify_socket.drain(1.0)
        running.clear()
        assert stalled.wait(2.0)
        notify_socket.drain(0.15)  # a ping already in flight when the loop stopped
        during_stall = notify_socket.drain(1.0)
        running.set()
        resumed = notify_socket.drain(0.6)
        done.set()
    worker.join(5)

    assert flowing[0] == "READY=1"
    pings = [m for m in flowing if m.startswith("WATCHDOG=1")]
    assert len(pings) >= 5, flowing
    assert "fps" in pings[-1]
    assert sum(motion) > 0, "the pipeline must really process the video"
    assert not [m for m in during_stall if "WATCHDOG=1" in m], during_stall
    assert any(m.startswith("STATUS=stalled") for m in during_stall)
    assert any(m.startswith("WATCHDOG=1") for m in resumed), resumed
    assert watchdog.stalls >= 5
