"""systemd ``sd_notify`` spoken directly over the ``NOTIFY_SOCKET`` datagram socket, and a frame watchdog.

Protocol (``man sd_notify``): newline-separated ``KEY=VALUE`` assignments in one ``AF_UNIX``/``SOCK_DGRAM``
datagram sent to the path in ``$NOTIFY_SOCKET``; a leading ``@`` means a Linux abstract socket (``\\0`` + rest).
Outside systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op.

:class:`FrameWatchdog` pings ``WATCHDOG=1`` only while the frame loop's heartbeat keeps advancing, so a
stalled capture or inference loop stops the pings and systemd restarts the service (``WatchdogSec=``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """``$NOTIFY_SOCKET`` as a ``socket.connect`` address: ``@name`` -> abstract ``b"\\0name"``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds systemd allows between ``WATCHDOG=1`` pings, or ``None`` when the watchdog is not enabled for us.

    Reads ``WATCHDOG_USEC`` (microseconds); when ``WATCHDOG_PID`` is set it must be our pid. Malformed or
    non-positive values are logged and treated as "no watchdog".
    """
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", raw)
        return None
    if usec <= 0:
        log.warning("ignoring WATCHDOG_USEC=%r: not positive", raw)
        return None
    return usec / 1e6


class Notifier:
    """An ``sd_notify`` client. ``Notifier()`` reads ``$NOTIFY_SOCKET``; disabled (no-op) when it is unset."""

    def __init__(self, address: str | None = None) -> None:
        self.address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self.errors = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram. True when sent; failures are logged and counted, never raised."""
        if not self.address:
            return False
        payload = "\n".join(assignments).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(payload, socket_address(self.address))
            except OSError as exc:
                self.errors += 1
                log.warning("sd_notify to %s failed: %s", self.address, exc)
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class FrameWatchdog:
    """Pings the systemd watchdog only while :meth:`beat` keeps being called.

    The frame loop calls ``beat()`` once per processed frame (an integer increment, nothing else). A background
    thread wakes every ``interval_s`` (default: half of ``WATCHDOG_USEC``) and sends ``WATCHDOG=1`` plus
    ``STATUS=`` with the frame rate when the heartbeat advanced since its last check; when it did not, it sends
    only a "stalled" status, so systemd's timer runs out and the unit is restarted.
    Without a watchdog (no ``WATCHDOG_USEC`` and no ``interval_s``) the thread still reports ``STATUS`` every
    ``status_every_s`` seconds when a notify socket exists.
    """

    def __init__(self, notifier: Notifier, interval_s: float | None = None, status_every_s: float = 5.0) -> None:
        self.notifier = notifier
        timeout = watchdog_interval()
        self.watchdog_enabled = interval_s is not None or timeout is not None
        if interval_s is None:
            interval_s = timeout / 2 if timeout is not None else status_every_s
        self.interval_s = max(interval_s, 0.01)
        self.frames = 0
        self.pings = 0
        self.stalls = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, frames: int = 1) -> None:
        """Heartbeat from the frame loop: ``frames`` more frames were processed."""
        self.frames += frames

    def start(self) -> FrameWatchdog:
        if self.notifier.enabled and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FrameWatchdog:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        seen, since = self.frames, time.monotonic()
        while not self._stop.wait(self.interval_s):
            now, frames = time.monotonic(), self.frames
            fps = (frames - seen) / max(now - since, 1e-9)
            if frames != seen:
                status = f"STATUS=processing {fps:.1f} fps, {frames} frames"
                if self.watchdog_enabled:
                    self.pings += 1
                    self.notifier.notify("WATCHDOG=1", status)
                else:
                    self.notifier.notify(status)
            else:
                self.stalls += 1
                log.warning("no frame processed for %.1f s: not pinging the watchdog", now - since)
                self.notifier.notify(f"STATUS=stalled: no frame processed for {now - since:.0f} s")
                continue  # keep `since` at the last advance so the status shows the stall's length
            seen, since = frames, now
