"""Serial shelf sensors: the line protocol of weight strips and door/IR-beam counters, and the pyserial reader.

Line protocol (ASCII, one record per line, ``\\n`` or ``\\r\\n``; NMEA 0183 framing)::

    $W,<shelf>,<slot>,<grams>*<CS>          weight-strip reading of one slot, grams as a decimal (may be negative)
    $D,<door>,<in_total>,<out_total>*<CS>   door counter: cumulative people in / out since the counter booted

``<shelf>``, ``<slot>``, ``<door>``: 1-32 of ``[A-Za-z0-9_-]``. ``<CS>``: XOR of every byte between ``$`` and
``*`` (both excluded) as two hex digits, e.g. ``$W,1,3,512.0*51``. A line may be at most 96 bytes. Bytes before
the last ``$`` of a line are noise (counted as garbage); lines without ``$``, with a bad checksum or with bad
fields are counted and skipped. Unplugging drops the partial line and the reader reopens the port with back-off.

The reader hands each chunk of bytes to a :class:`Processor`: :class:`RecordProcessor` (the default) turns them
into :data:`Record` readings; the analytics on top of them (weight events, door increments, fusion with the
camera) live in ``edge/analytics`` (``weights``, ``doors``, ``stock_fusion``, ``sensor_processor``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from common.retry import Retry
from errors import SmartstoreError

log = logging.getLogger(__name__)

MAX_LINE = 96
#: a port that stayed open this long resets the reconnect backoff (one that opens and drops at once backs off)
STABLE_S = 5.0
_ID = r"[A-Za-z0-9_-]{1,32}"
_NUM = r"-?\d+(?:\.\d+)?"
_WEIGHT = re.compile(rf"W,({_ID}),({_ID}),({_NUM})")
_DOOR = re.compile(rf"D,({_ID}),(\d+),(\d+)")


def checksum(body: bytes) -> str:
    """NMEA-style checksum: XOR of the bytes between ``$`` and ``*``, as two upper-case hex digits."""
    value = 0
    for byte in body:
        value ^= byte
    return f"{value:02X}"


def format_line(*fields: object) -> bytes:
    """``format_line("W", 1, 3, 512.0)`` -> ``b"$W,1,3,512.0*51\\r\\n"`` (what a sensor sends)."""
    body = ",".join(str(f) for f in fields).encode()
    return b"$" + body + b"*" + checksum(body).encode() + b"\r\n"


@dataclass
class SensorStats:
    """Counters of everything that went right or wrong on one port (for logs and the health event)."""

    bytes: int = 0
    records: int = 0
    garbage_bytes: int = 0
    checksum_errors: int = 0
    malformed: int = 0
    overflows: int = 0
    partial_lines: int = 0
    opens: int = 0
    open_failures: int = 0
    disconnects: int = 0
    reconnects: int = 0
    counter_resets: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class WeightReading:
    shelf: str
    slot: str
    grams: float


@dataclass(frozen=True)
class DoorCount:
    door: str
    entered: int
    exited: int


Record = WeightReading | DoorCount


class LineDecoder:
    """Bytes in, validated records out; every rejected byte or line is counted in ``stats``."""

    def __init__(self, stats: SensorStats, max_line: int = MAX_LINE) -> None:
        self.stats = stats
        self.max_line = max_line
        self._buffer = bytearray()
        self._overflowing = False

    def _skip(self, counter: str, message: str, *args: object) -> None:
        """Count a rejected line; log the first 10 of each kind, then every 1000th (a wrong baud rate floods)."""
        count = getattr(self.stats, counter) + 1
        setattr(self.stats, counter, count)
        if count <= 10 or count % 1000 == 0:
            log.warning(message + " [%s #%d]", *args, counter, count)

    def reset(self) -> None:
        """The port went away: a half-received line is dropped."""
        if self._buffer:
            self.stats.partial_lines += 1
            log.info("dropped a partial line of %d bytes", len(self._buffer))
        self._buffer.clear()
        self._overflowing = False

    def feed(self, data: bytes) -> list[Record]:
        self.stats.bytes += len(data)
        records = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._append(data[start:end])
            if self._overflowing:
                self._overflowing = False
            else:
                record = self._parse(bytes(self._buffer))
                if record is not None:
                    records.append(record)
            self._buffer.clear()
            start = end + 1
        self._append(data[start:])
        return records

    def _append(self, chunk: bytes) -> None:
        if self._overflowing:
            self.stats.garbage_bytes += len(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) > self.max_line:
            self.stats.garbage_bytes += len(self._buffer)
            self._skip("overflows", "serial line longer than %d bytes: discarded", self.max_line)
            self._buffer.clear()
            self._overflowing = True

    def _parse(self, line: bytes) -> Record | None:
        line = line.rstrip(b"\r")
        if not line:
            return None
        dollar = line.rfind(b"$")
        if dollar < 0:
            self.stats.garbage_bytes += len(line)
            self._skip("malformed", "serial line without '$' skipped: %r", line[:40])
            return None
        self.stats.garbage_bytes += dollar
        body, star, sent = line[dollar + 1 :].rpartition(b"*")
        if not star or len(sent) != 2:
            self._skip("malformed", "serial line without '*XX' checksum skipped: %r", line[:40])
            return None
        if sent.upper().decode("ascii", "replace") != checksum(body):
            self._skip("checksum_errors", "serial line with bad checksum skipped: %r (expected %s)", line[:40],
                       checksum(body))
            return None
        text = body.decode("ascii", "replace")
        if m := _WEIGHT.fullmatch(text):
            self.stats.records += 1
            return WeightReading(m[1], m[2], float(m[3]))
        if m := _DOOR.fullmatch(text):
            self.stats.records += 1
            return DoorCount(m[1], int(m[2]), int(m[3]))
        self._skip("malformed", "malformed serial record skipped: %r", text[:40])
        return None


class Processor(Protocol):
    """What the reader feeds: bytes in (with their arrival time), whatever the processor makes of them out."""

    stats: SensorStats

    def feed(self, data: bytes, ts: float) -> Sequence[Any]: ...

    def disconnected(self) -> None: ...


class RecordProcessor:
    """The protocol alone: bytes in, validated :data:`Record` readings out (``ts`` is not used)."""

    def __init__(self) -> None:
        self.stats = SensorStats()
        self.decoder = LineDecoder(self.stats)

    def feed(self, data: bytes, ts: float) -> list[Record]:
        return self.decoder.feed(data)

    def disconnected(self) -> None:
        self.decoder.reset()


def is_url(port: str) -> bool:
    return "://" in port


class PortError(SmartstoreError, FileNotFoundError):
    """A serial port named by the user that does not exist."""


def check_port(port: str) -> None:
    """Raise :class:`PortError` (a ``FileNotFoundError``) naming the port when a device path does not exist (URLs
    are not checked)."""
    if not is_url(port) and not Path(port).exists():
        raise PortError(f"serial port {port} does not exist")


class SerialSensorReader:
    """Reads one port (a device path or a pyserial URL such as ``socket://host:port``) in a thread, forever.

    Every event goes to ``on_event``. A missing port, a read error or an unplugged adapter are logged and
    counted; the port is reopened with exponential back-off (``retry_s`` doubling up to ``max_retry_s``).
    """

    def __init__(
        self,
        port: str,
        on_event: Callable[[Any], None],
        baudrate: int = 9600,
        processor: Processor | None = None,
        retry_s: float = 0.2,
        max_retry_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.port, self.on_event, self.baudrate = port, on_event, baudrate
        self.processor: Processor = processor or RecordProcessor()
        self.stats = self.processor.stats
        self.retry_s, self.max_retry_s, self.clock = retry_s, max_retry_s, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SerialSensorReader:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"serial {self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def run(self) -> None:
        import serial

        retry = Retry(self.retry_s, self.max_retry_s, stable_s=STABLE_S)
        was_connected, failing = False, False
        while not self._stop.is_set():
            try:
                connection = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.1)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.stats.open_failures += 1
                if not failing:
                    log.warning("serial port %s unavailable (%s): retrying", self.port, exc)
                failing = True
                self._stop.wait(retry.next_delay())
                continue
            self.stats.opens += 1
            self.stats.reconnects += was_connected
            log.info("serial port %s open", self.port)
            retry.succeeded()
            was_connected, failing = True, False
            try:
                self._read(connection)
            except (serial.SerialException, OSError) as exc:
                self.stats.disconnects += 1
                self.processor.disconnected()
                log.warning("serial port %s lost (%s): reconnecting", self.port, exc)
                self._stop.wait(retry.next_delay())
            finally:
                connection.close()

    def _read(self, connection: Any) -> None:
        while not self._stop.is_set():
            data = connection.read(max(connection.in_waiting, 1))
            if data:
                for event in self.processor.feed(data, self.clock()):
                    self.on_event(event)

