"""Camera capture: a grabber thread per camera that keeps only the newest frame, and reconnects forever.

Sources: a video file (optionally looped; paced to its frame rate, or as fast as the consumer takes frames),
a V4L2 camera (index ``0`` or ``/dev/video0``), or an RTSP/HTTP(S) URL. Every frame carries its capture
time and a per-camera sequence number; frames the grabber replaced before the consumer took them are
counted as dropped. When a source fails (cannot open, read error, a file that vanished), the grabber
reports ``lost``, is ``reconnecting`` while it retries with exponential backoff and jitter (the backoff keeps
growing across failures until a source has streamed for ``STABLE_S``), and reports ``recovered``: it never raises.

A URL that serves a finite video (a file over HTTP: the stream knows its frame count) behaves like a file: paced
by its own time stamps, and its end is an end (``ended``, or the start again with ``loop``), not a camera loss.
A live stream (no frame count) is read as it comes; when it stops, that is a loss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from common.retry import Retry
from edge.config import CameraConfig

log = logging.getLogger("smartstore.capture")
#: a source must stream this long before its next failure counts as a first one again (damps flapping)
STABLE_S = 30.0


@dataclass(frozen=True, slots=True)
class Frame:
    camera: str
    seq: int  # per-camera capture sequence number (gaps = dropped frames)
    ts: float  # capture wall-clock time, seconds since the epoch
    mono: float  # capture time on the monotonic clock
    image: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """A change of a source's state, for health events: ``lost`` (with the error) or ``recovered``."""

    camera: str
    state: str  # "lost" | "recovered" | "ended"
    error: str | None
    reconnects: int


def source_kind(source: str | int) -> str:
    """``device`` (V4L2 index or /dev path), ``url`` (rtsp/http/https...) or ``file``."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()) or str(source).startswith("/dev/"):
        return "device"
    if "://" in str(source):
        return "url"
    return "file"


def open_source(config: CameraConfig) -> cv2.VideoCapture:
    """Open the camera's source with the right backend; raises ``OSError`` when it cannot be opened."""
    kind = source_kind(config.source)
    source = config.source
    if kind == "device":
        index = int(source) if str(source).isdigit() else str(source)
        cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if config.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
        if config.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        if config.fps:
            cap.set(cv2.CAP_PROP_FPS, config.fps)
    elif kind == "url":
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]
        cap = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG, params)
    else:
        if not Path(str(source)).is_file():
            raise OSError(f"video file {source} does not exist")
        cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        cap.release()
        raise OSError(f"cannot open {kind} source {source}")
    return cap


class Camera:
    """One source with its grabber thread. ``read`` returns the newest frame not yet returned."""

    def __init__(self, config: CameraConfig, on_event: Callable[[SourceEvent], None] | None = None,
                 opener: Callable[[CameraConfig], cv2.VideoCapture] = open_source,
                 ready: threading.Event | None = None) -> None:
        """``ready``: set whenever a new frame is available (one event shared by several cameras)."""
        self.config = config
        self.id = config.id
        self.kind = source_kind(config.source)
        self._opener = opener
        self._on_event = on_event
        self._ready = ready
        # Files as fast as possible hand over every frame (lossless); paced files and live sources keep the newest.
        self.lossless = self.kind == "file" and not config.pace
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.captured = 0
        self.dropped = 0
        self.reconnects = 0
        self._lost = False
        self.state = "starting"  # starting | streaming | lost | reconnecting | ended | stopped
        self.fps: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        self.state = "stopped"

    @property
    def ended(self) -> bool:
        """A non-looping file reached its end and every frame was taken."""
        return self.state == "ended" and self._taken

    def read(self, timeout: float = 1.0) -> Frame | None:
        """The newest frame not yet returned, waiting up to ``timeout`` s; None if there is none."""
        with self._cond:
            if self._taken and not self._cond.wait_for(lambda: not self._taken or self._stop.is_set(), timeout):
                return None
            if self._taken:
                return None
            self._taken = True
            self._cond.notify_all()
            return self._frame

    # ---- grabber thread --------------------------------------------------------------------------------
    def _publish(self, image: npt.NDArray[np.uint8]) -> None:
        frame = Frame(self.id, self.captured, time.time(), time.monotonic(), image)
        self.captured += 1
        with self._cond:
            if self.lossless:
                self._cond.wait_for(lambda: self._taken or self._stop.is_set())
            elif not self._taken:
                self.dropped += 1
            self._frame = frame
            self._taken = False
            self._cond.notify_all()
        if self._ready is not None:
            self._ready.set()

    def _emit(self, state: str, error: str | None) -> None:
        if self._on_event is not None:
            try:
                self._on_event(SourceEvent(self.id, state, error, self.reconnects))
            except Exception:
                log.exception("camera %s: source event handler failed", self.id)

    def _run(self) -> None:
        retry = Retry(self.config.reconnect.min_s, self.config.reconnect.max_s, stable_s=STABLE_S)
        while not self._stop.is_set():
            try:
                cap = self._opener(self.config)
            except Exception as exc:
                self._lose(str(exc))
                self._retry_wait(retry)
                continue
            try:
                error = self._grab_until_failure(cap, retry)
            finally:
                cap.release()
            if self._stop.is_set():
                break
            if error is None:  # the end of a file or of a finite URL video
                if not self.config.loop:
                    self._end()
                    return
                continue
            self._lose(error)
            self._retry_wait(retry)

    def _streaming(self, retry: Retry) -> None:
        """The first frame of an opened source: recovered (frames flow again), if it was lost."""
        retry.succeeded()
        self.state = "streaming"
        if self._lost:
            self._lost = False
            self.reconnects += 1
            log.info("camera %s: source %s recovered after %d attempts", self.id, self.config.source, retry.attempt)
            self._emit("recovered", None)

    def _end(self) -> None:
        with self._cond:
            self.state = "ended"
            self._cond.notify_all()
        if self._ready is not None:
            self._ready.set()
        self._emit("ended", None)

    def _lose(self, error: str) -> None:
        if not self._lost:
            self._lost = True
            self.state = "lost"
            log.warning("camera %s: source lost: %s; reconnecting with backoff", self.id, error)
            self._emit("lost", error)

    def _retry_wait(self, retry: Retry) -> None:
        self._stop.wait(retry.next_delay())
        if not self._stop.is_set():
            self.state = "reconnecting"

    def _grab_until_failure(self, cap: cv2.VideoCapture, retry: Retry) -> str | None:
        """Read frames until the stream fails (returns the error) or a finite video ends (returns None)."""
        fps = self.config.fps or cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.fps = fps if fps > 0 else None
        frames = cap.get(cv2.CAP_PROP_FRAME_COUNT) if self.kind == "url" else 0.0
        finite = self.kind == "file" or frames > 0  # a URL that knows its length serves a video file
        paced = finite and self.config.pace and (fps > 0 or self.kind == "url")
        clock = _Pacer(fps, by_timestamp=self.kind == "url" and not self.config.fps)
        read = 0
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                if self.kind == "file" or (finite and read >= frames - 1):
                    return None
                return f"read from {self.config.source} failed" + (f" after {read} of {frames:.0f} frames"
                                                                   if finite else "")
            if read == 0:
                self._streaming(retry)
            read += 1
            if paced:
                delay = clock.delay(cap.get(cv2.CAP_PROP_POS_MSEC))
                if delay > 0:
                    self._stop.wait(delay)
            self._publish(np.asarray(image, np.uint8))
        return None


class _Pacer:
    """How long to wait before handing over the next frame of a video: by its time stamp, or by frame rate."""

    def __init__(self, fps: float, by_timestamp: bool) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self.by_timestamp = by_timestamp
        self.start = time.monotonic()
        self.first_ms: float | None = None
        self.n = 0

    def delay(self, pos_ms: float) -> float:
        self.n += 1
        if self.by_timestamp and (pos_ms > 0 or self.first_ms is None):
            if self.first_ms is None:
                self.first_ms = pos_ms
            due = self.start + (pos_ms - self.first_ms) / 1000
        else:
            due = self.start + self.n * self.period
        delay = due - time.monotonic()
        if delay < -1.0:  # fell far behind (e.g. suspended): do not burst
            self.start, self.n, self.first_ms = time.monotonic(), 0, None
        return delay
