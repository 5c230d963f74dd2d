"""Serial shelf sensors: weight strips under shelf slots and door/IR-beam counters, read with pyserial.

Line protocol (ASCII, one record per line, ``\\n`` or ``\\r\\n``; NMEA 0183 framing)::

    $W,<shelf>,<slot>,<grams>*<CS>          weight-strip reading of one slot, grams as a decimal (may be negative)
    $D,<door>,<in_total>,<out_total>*<CS>   door counter: cumulative people in / out since the counter booted

``<shelf>``, ``<slot>``, ``<door>``: 1-32 of ``[A-Za-z0-9_-]``. ``<CS>``: XOR of every byte between ``$`` and
``*`` (both excluded) as two hex digits, e.g. ``$W,1,3,512.0*51``. A line may be at most 96 bytes. Bytes before
the last ``$`` of a line are noise (counted as garbage); lines without ``$``, with a bad checksum or with bad
fields are counted and skipped. Unplugging drops the partial line and the reader reopens the port with back-off.

Weight readings become ``pick_up`` / ``put_back`` / ``empty`` events (:class:`WeightTracker`: debouncing and drift
compensation); :class:`StockFusion` combines a slot's weight with the camera's out-of-stock state.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

MAX_LINE = 96
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


@dataclass(frozen=True)
class WeightConfig:
    """How a slot's readings become events. Grams throughout."""

    settle_samples: int = 3  # consecutive readings within noise_g before a weight counts (debouncing)
    noise_g: float = 6.0  # spread of readings still called "stable"
    min_delta_g: float = 20.0  # smallest change reported as a pick-up / put-back (lighter than one item)
    empty_g: float = 15.0  # net weight at or below which the slot is empty
    tare_g: float = 0.0  # reading of the empty tray
    drift_alpha: float = 0.1  # how fast the baseline follows changes smaller than min_delta_g (0 = never)
    unit_g: float | None = None  # weight of one item: events then carry a unit count


WeightKind = Literal["pick_up", "put_back", "empty"]


@dataclass(frozen=True)
class WeightEvent:
    kind: WeightKind
    shelf: str
    slot: str
    grams: float  # settled gross reading
    delta_g: float  # change since the previous settled weight (0 for ``empty`` on start-up)
    units: int | None
    ts: float
    empty: bool  # the slot's state after this event (feed it to StockFusion.weight)

    def data(self, sensor: str) -> dict[str, Any]:
        """The ``sensor.weight`` event payload (``edge/schemas/sensor.weight.schema.json``) plus ``action``."""
        out: dict[str, Any] = {"sensor": sensor, "slot": f"{self.shelf}/{self.slot}", "grams": round(self.grams, 1),
                               "delta_g": round(self.delta_g, 1), "action": self.kind}
        if self.units is not None:
            out["units"] = self.units
        return out


@dataclass(frozen=True)
class FootfallEvent:
    door: str
    entered: int
    exited: int
    ts: float


SensorEvent = WeightEvent | FootfallEvent


class WeightTracker:
    """One slot: debounced settled weight, drift-compensated baseline and tare, empty state."""

    def __init__(self, shelf: str, slot: str, config: WeightConfig) -> None:
        self.shelf, self.slot, self.config = shelf, slot, config
        self.window: deque[float] = deque(maxlen=config.settle_samples)
        self.baseline: float | None = None
        self.tare = config.tare_g
        self.empty = False

    def reset_window(self) -> None:
        self.window.clear()

    def update(self, grams: float, ts: float) -> list[WeightEvent]:
        cfg = self.config
        self.window.append(grams)
        if len(self.window) < cfg.settle_samples or max(self.window) - min(self.window) > cfg.noise_g:
            return []  # still moving: a hand on the shelf, an item being placed
        settled = sum(self.window) / len(self.window)
        if self.baseline is None:  # first settled weight: the starting point, reported only when empty
            self.baseline = settled
            self.empty = settled - self.tare <= cfg.empty_g
            return [WeightEvent("empty", self.shelf, self.slot, settled, 0.0, None, ts, True)] if self.empty else []
        delta = settled - self.baseline
        if abs(delta) < cfg.min_delta_g:  # drift: follow slowly, so creeping load cells never add up to an event
            self.baseline += cfg.drift_alpha * delta
            if self.empty:  # zero tracking: an empty tray's reading is the new tare
                self.tare += cfg.drift_alpha * (settled - self.tare)
            return []
        was_empty = self.empty
        self.baseline = settled
        self.empty = settled - self.tare <= cfg.empty_g
        units = round(abs(delta) / cfg.unit_g) if cfg.unit_g else None
        kind: WeightKind = "pick_up" if delta < 0 else "put_back"
        events = [WeightEvent(kind, self.shelf, self.slot, settled, delta, units, ts, self.empty)]
        if self.empty and not was_empty:
            events.append(WeightEvent("empty", self.shelf, self.slot, settled, delta, None, ts, True))
        return events


class DoorCounter:
    """Cumulative door totals -> increments; a total going down means the counter rebooted (counted)."""

    def __init__(self, stats: SensorStats) -> None:
        self.stats = stats
        self.totals: dict[str, tuple[int, int]] = {}

    def update(self, record: DoorCount, ts: float) -> list[FootfallEvent]:
        previous = self.totals.get(record.door)
        self.totals[record.door] = (record.entered, record.exited)
        if previous is None:
            return []  # first report: the totals before it are unknown
        entered, exited = record.entered - previous[0], record.exited - previous[1]
        if entered < 0 or exited < 0:
            self.stats.counter_resets += 1
            log.warning("door counter %s went back (%s -> %s): counter restarted", record.door, previous,
                        (record.entered, record.exited))
            entered, exited = record.entered, record.exited
        return [FootfallEvent(record.door, entered, exited, ts)] if entered or exited else []


def footfall_agreement(camera_in: int, sensor_in: int) -> dict[str, Any]:
    """Camera vs door-counter entries for the health event: both counts, difference and ratio."""
    ratio = round(camera_in / sensor_in, 3) if sensor_in else None
    return {"camera_in": camera_in, "sensor_in": sensor_in, "difference": camera_in - sensor_in, "ratio": ratio}


class SensorProcessor:
    """Decoder + per-slot trackers + door counters: bytes in, :data:`SensorEvent` list out (no I/O)."""

    def __init__(self, weight: WeightConfig | None = None, slots: dict[str, WeightConfig] | None = None) -> None:
        self.stats = SensorStats()
        self.decoder = LineDecoder(self.stats)
        self.weight = weight or WeightConfig()
        self.slot_configs = slots or {}  # "shelf/slot" -> its own config (e.g. unit_g, tare_g)
        self.trackers: dict[tuple[str, str], WeightTracker] = {}
        self.doors = DoorCounter(self.stats)

    def feed(self, data: bytes, ts: float) -> list[SensorEvent]:
        events: list[SensorEvent] = []
        for record in self.decoder.feed(data):
            if isinstance(record, DoorCount):
                events.extend(self.doors.update(record, ts))
                continue
            key = (record.shelf, record.slot)
            tracker = self.trackers.get(key)
            if tracker is None:
                config = self.slot_configs.get(f"{record.shelf}/{record.slot}", self.weight)
                tracker = self.trackers[key] = WeightTracker(record.shelf, record.slot, config)
            events.extend(tracker.update(record.grams, ts))
        return events

    def disconnected(self) -> None:
        self.decoder.reset()
        for tracker in self.trackers.values():
            tracker.reset_window()


def is_url(port: str) -> bool:
    return "://" in port


def check_port(port: str) -> None:
    """Raise ``FileNotFoundError`` naming the port when a device path does not exist (URLs are not checked)."""
    if not is_url(port) and not Path(port).exists():
        raise FileNotFoundError(f"serial port {port} does not exist")


class SerialSensorReader:
    """Reads one port (a device path or a pyserial URL such as ``socket://host:port``) in a thread, forever.

    Every event goes to ``on_event``. A missing port, a read error or an unplugged adapter are logged and
    counted; the port is reopened with exponential back-off (``retry_s`` doubling up to ``max_retry_s``).
    """

    def __init__(
        self,
        port: str,
        on_event: Callable[[SensorEvent], None],
        baudrate: int = 9600,
        processor: SensorProcessor | None = None,
        retry_s: float = 0.2,
        max_retry_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.port, self.on_event, self.baudrate = port, on_event, baudrate
        self.processor = processor or SensorProcessor()
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

        delay, was_connected, failing = self.retry_s, False, False
        while not self._stop.is_set():
            try:
                connection = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.1)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.stats.open_failures += 1
                if not failing:
                    log.warning("serial port %s unavailable (%s): retrying", self.port, exc)
                failing = True
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            self.stats.opens += 1
            self.stats.reconnects += was_connected
            log.info("serial port %s open", self.port)
            delay, was_connected, failing = self.retry_s, True, False
            try:
                self._read(connection)
            except (serial.SerialException, OSError) as exc:
                self.stats.disconnects += 1
                self.processor.disconnected()
                log.warning("serial port %s lost (%s): reconnecting", self.port, exc)
                self._stop.wait(delay)
            finally:
                connection.close()

    def _read(self, connection: Any) -> None:
        while not self._stop.is_set():
            data = connection.read(max(connection.in_waiting, 1))
            if data:
                for event in self.processor.feed(data, self.clock()):
                    self.on_event(event)


@dataclass(frozen=True)
class StockEvent:
    kind: Literal["out_of_stock", "restocked"]
    slot: Hashable
    source: str  # "camera+weight", "camera", "weight" (the one source believed after the timeout)
    ts: float
    disagreed_s: float = 0.0


@dataclass
class _SlotState:
    camera: bool | None = None
    weight: bool | None = None
    out: bool = False
    disagree_since: float | None = None


@dataclass
class StockFusion:
    """A slot is out of stock when camera and weight both say empty, or when one of them has said so for
    ``disagree_timeout_s`` while the other disagrees (or has not reported). Restocked when neither says empty."""

    disagree_timeout_s: float = 60.0
    slots: dict[Hashable, _SlotState] = field(default_factory=dict)

    def camera(self, slot: Hashable, out_of_stock: bool, now: float) -> list[StockEvent]:
        self.slots.setdefault(slot, _SlotState()).camera = out_of_stock
        return self._evaluate(slot, now)

    def weight(self, slot: Hashable, empty: bool, now: float) -> list[StockEvent]:
        self.slots.setdefault(slot, _SlotState()).weight = empty
        return self._evaluate(slot, now)

    def tick(self, now: float) -> list[StockEvent]:
        """Call periodically: disagreements that outlived the timeout become out-of-stock."""
        return [event for slot in list(self.slots) for event in self._evaluate(slot, now)]

    def out_of_stock(self, slot: Hashable) -> bool:
        state = self.slots.get(slot)
        return bool(state and state.out)

    def _evaluate(self, slot: Hashable, now: float) -> list[StockEvent]:
        state = self.slots[slot]
        votes = [name for name in ("camera", "weight") if getattr(state, name)]
        if not votes:
            state.disagree_since = None
            if state.out:
                state.out = False
                return [StockEvent("restocked", slot, "camera+weight", now)]
            return []
        if state.out:
            return []
        if len(votes) == 2:
            state.disagree_since, state.out = None, True
            return [StockEvent("out_of_stock", slot, "camera+weight", now)]
        if state.disagree_since is None:
            state.disagree_since = now
        waited = now - state.disagree_since
        if waited < self.disagree_timeout_s:
            return []
        state.out = True
        log.info("slot %s out of stock on %s alone after %.0f s of disagreement", slot, votes[0], waited)
        return [StockEvent("out_of_stock", slot, votes[0], now, waited)]
