"""`smartstore edge run` under a fake systemd: READY=1, WATCHDOG=1 while frames flow, none while the camera stalls.

The camera is a real network source: vtest.avi served over HTTP by the test at a throttled rate, which the test can
pause (a hung IP camera). The service's notify socket is a datagram socket the test owns (``NOTIFY_SOCKET``) and
``WATCHDOG_USEC`` asks for a 1 s watchdog, so the service checks its frame heartbeat every 0.5 s.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.broker import LocalBroker as Mosquitto

REPO = Path(__file__).resolve().parents[2]
SMARTSTORE = str(Path(sys.executable).parent / "smartstore")
MODEL = "person-ssdlite"


class ThrottledVideoServer:
    """HTTP server streaming one video file again and again at ``rate`` bytes/s; ``stall()`` / ``resume()``."""

    def __init__(self, video: Path, rate: int = 600_000) -> None:
        self.data = video.read_bytes()
        self.rate = rate
        self.flowing = threading.Event()
        self.flowing.set()
        self.done = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/{video.name}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._send, args=(conn,), daemon=True).start()

    def _send(self, conn: socket.socket) -> None:
        chunk = self.rate // 25
        with conn:
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/x-msvideo\r\nContent-Length: %d\r\n\r\n"
                             % len(self.data))
                for start in range(0, len(self.data), chunk):
                    while not self.flowing.wait(0.1):
                        if self.done.is_set():
                            return
                    conn.sendall(self.data[start:start + chunk])
                    time.sleep(0.04)
            except OSError:
                return

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.server.close()


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)

    def collect(self, seconds: float) -> list[str]:
        got, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return got

    def wait_for(self, prefix: str, timeout: float) -> list[str]:
        got, end = [], time.monotonic() + timeout
        while time.monotonic() < end:
            got += self.collect(0.2)
            if any(m.startswith(prefix) for m in got):
                return got
        raise AssertionError(f"no {prefix!r} within {timeout} s; got {got}")


@pytest.fixture
def video_server(vtest_video: Path) -> Iterator[ThrottledVideoServer]:
    server = ThrottledVideoServer(vtest_video)
    yield server
    server.close()


def pings(messages: list[str]) -> int:
    return sum(m.startswith("WATCHDOG=1") for m in messages)


def test_edge_service_pings_the_watchdog_only_while_frames_flow(
    tmp_path: Path, broker: Mosquitto, video_server: ThrottledVideoServer
) -> None:
    if not (REPO / "models" / MODEL / "model.yaml").exists():
        pytest.skip(f"models/{MODEL} is not built (make models)")
    config = tmp_path / "edge.yaml"
    config.write_text(
        f"store: test-store\ndevice: edge-wd\nlog_level: info\nhealth_interval_s: 30\n"
        # pace: false: read as the bytes come, like a live camera (a served file is otherwise paced by its time
        # stamps, from what the decoder has buffered, and a stall would not show for seconds)
        f"cameras:\n  - id: door\n    source: {video_server.url}\n    pace: false\n"
        f"    reconnect: {{min_s: 0.2, max_s: 1}}\n"
        f"model: {{name: {MODEL}, engine: auto}}\n"
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}}}\n"
        f"outbox: {{path: {tmp_path / 'outbox.db'}}}\n"
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    env.pop("WATCHDOG_PID", None)
    log = (tmp_path / "service.log").open("w")
    service = subprocess.Popen([SMARTSTORE, "edge", "run", "--config", str(config)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, cwd=REPO)
    try:
        started = notify.wait_for("READY=1", timeout=120)
        flowing = notify.collect(3.0)
        video_server.stall()
        notify.collect(1.5)  # frames already buffered by the decoder, a ping already due
        stalled = notify.collect(3.0)
        video_server.resume()
        resumed = notify.collect(4.0)
        service.send_signal(signal.SIGTERM)
        stopping = notify.wait_for("STOPPING=1", timeout=30)
        assert service.wait(timeout=60) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
        log.close()
    output = (tmp_path / "service.log").read_text()
    ready = next(m for m in started if m.startswith("READY=1"))
    assert "engine" in ready, ready  # READY carries a STATUS line
    assert pings(flowing) >= 4, (flowing, output[-2000:])
    assert any("fps" in m for m in flowing if m.startswith("WATCHDOG=1"))
    assert pings(stalled) == 0, stalled
    assert any(m.startswith("STATUS=stalled") for m in stalled), stalled
    assert pings(resumed) >= 1, (resumed, output[-2000:])
    assert any(m.startswith("STOPPING=1") for m in stopping)
