"""Serial shelf sensors: protocol, debouncing, drift, fusion; real pseudo-terminals and TCP for the reader."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.analytics.doors import FootfallEvent, footfall_agreement
from edge.analytics.sensor_processor import SensorEvent, SensorProcessor
from edge.analytics.stock_fusion import StockFusion
from edge.analytics.weights import WeightConfig, WeightEvent, WeightTracker
from hardware.serial_sensors import (
    DoorCount,
    LineDecoder,
    SensorStats,
    SerialSensorReader,
    WeightReading,
    checksum,
    format_line,
)

SMARTSTORE = str(Path(sys.executable).parent / "smartstore")


def W(grams: float, shelf: str = "1", slot: str = "3") -> bytes:
    return format_line("W", shelf, slot, grams)


def D(entered: int, exited: int, door: str = "front") -> bytes:
    return format_line("D", door, entered, exited)


def summary(events: list[SensorEvent]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for e in events:
        if isinstance(e, WeightEvent):
            out.append((e.kind, f"{e.shelf}/{e.slot}", round(e.delta_g), e.units, e.empty))
        else:
            out.append(("footfall", e.door, e.entered, e.exited))
    return out


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- protocol -------------------------------------------------------------------------------------------------


def test_checksum_is_nmea_xor() -> None:
    assert checksum(b"W,1,3,512.0") == "51"
    assert format_line("W", 1, 3, 512.0) == b"$W,1,3,512.0*51\r\n"
    # the NMEA 0183 example sentence, to show it is the same checksum
    assert checksum(b"GPGLL,5300.97914,N,00259.98174,E,125926,A") == "28"


def test_decoder_counts_every_kind_of_bad_input(caplog: pytest.LogCaptureFixture) -> None:
    stats = SensorStats()
    decoder = LineDecoder(stats)
    good = W(512.0)
    stream = [
        b"\x00\xff" + good[:7], good[7:],  # garbage before '$', line split across reads
        b"\x07\x1b[2Jnoise\n",  # a line without '$'
        W(900)[:-4] + b"00\r\n",  # checksum wrong
        format_line("W", 1, 3, "abc"),  # checksum right, grams not a number
        format_line("X", 1, 3, 5),  # unknown record type
        b"$" + b"A" * 200 + b"\n",  # longer than a line may be
        b"\r\n",  # empty line: ignored
        good.lower().replace(b"w", b"W"),  # lower-case checksum hex is accepted
        b"$W,1,3,5",  # partial line left in the buffer
    ]
    with caplog.at_level(logging.WARNING, logger="hardware.serial_sensors"):
        records = [r for chunk in stream for r in decoder.feed(chunk)]
    assert [(r.shelf, r.slot, r.grams) for r in records] == [("1", "3", 512.0)] * 2  # type: ignore[union-attr]
    assert (stats.records, stats.checksum_errors, stats.malformed, stats.overflows) == (2, 1, 3, 1)
    assert stats.garbage_bytes == 2 + len(b"\x07\x1b[2Jnoise") + 201
    decoder.reset()
    assert stats.partial_lines == 1
    assert len(caplog.records) == 5  # each skipped line logged once
    assert decoder.feed(W(7.5)) != []  # the partial line did not poison the next one


def test_a_flood_of_garbage_is_counted_but_logged_sparingly(caplog: pytest.LogCaptureFixture) -> None:
    """A wrong baud rate produces nothing but garbage: every line counted, the log not flooded."""
    stats = SensorStats()
    with caplog.at_level(logging.WARNING, logger="hardware.serial_sensors"):
        LineDecoder(stats).feed(b"\xf0\x0f\xaa~x\n" * 2500)
    assert stats.malformed == 2500 and stats.records == 0
    assert len(caplog.records) == 10 + 2  # the first ten, then the 1000th and 2000th
    assert "[malformed #2000]" in caplog.records[-1].getMessage()


# --- weight logic ---------------------------------------------------------------------------------------------


def feed(tracker: WeightTracker, readings: list[float]) -> list[tuple[object, ...]]:
    return summary([e for i, g in enumerate(readings) for e in tracker.update(g, float(i))])


def test_debouncing_ignores_a_hand_on_the_shelf() -> None:
    tracker = WeightTracker("1", "3", WeightConfig(unit_g=250))
    readings = [1500.4, 1501.1, 1499.6, 1800, 1650, 1320, 1790, 1502, 1500.2, 1499.1, 1501]
    assert feed(tracker, readings) == []  # pressed, released: same weight, no event
    assert feed(tracker, [1250.2, 1249.5, 1250.8]) == [("pick_up", "1/3", -250, 1, False)]


def test_drift_is_absorbed_but_a_real_change_is_not() -> None:
    drift = [500 + 0.5 * i for i in range(120)]  # 60 g of creep, 0.5 g per reading
    assert feed(WeightTracker("1", "3", WeightConfig()), drift) == []
    uncompensated = feed(WeightTracker("1", "3", WeightConfig(drift_alpha=0)), drift)
    assert uncompensated and uncompensated[0][0] == "put_back"  # what drift compensation prevents
    tracker = WeightTracker("1", "3", WeightConfig())
    feed(tracker, drift + [drift[-1]] * 50)  # the baseline lags a creeping reading, then catches up
    assert feed(tracker, [drift[-1] - 30] * 3) == [("pick_up", "1/3", -30, None, False)]


def test_empty_slot_zero_tracking_and_restock() -> None:
    tracker = WeightTracker("2", "1", WeightConfig(tare_g=120, unit_g=100))
    assert feed(tracker, [420, 420, 420]) == []
    assert feed(tracker, [125, 126, 125]) == [("pick_up", "2/1", -295, 3, True), ("empty", "2/1", -295, None, True)]
    assert feed(tracker, [128 + i * 0.2 for i in range(60)]) == []  # an empty tray drifting up 12 g
    assert tracker.empty and tracker.tare > 130
    assert feed(tracker, [340, 340, 340])[0][:2] == ("put_back", "2/1")
    assert not tracker.empty


def test_starting_on_an_empty_slot_reports_empty_once() -> None:
    tracker = WeightTracker("1", "1", WeightConfig())
    assert feed(tracker, [3, 2, 3, 2, 3]) == [("empty", "1/1", 0, None, True)]


def test_door_counter_increments_and_reboot() -> None:
    processor = SensorProcessor()
    stream = D(120, 118) + D(123, 119) + D(123, 119) + D(2, 1) + D(5, 1)
    assert summary(processor.feed(stream, 0.0)) == [("footfall", "front", 3, 1), ("footfall", "front", 2, 1),
                                                   ("footfall", "front", 3, 0)]
    assert processor.stats.counter_resets == 1
    assert footfall_agreement(camera_in=9, sensor_in=8) == {"camera_in": 9, "sensor_in": 8, "difference": 1,
                                                          "ratio": 1.125}
    assert footfall_agreement(0, 0)["ratio"] is None


# --- fusion ---------------------------------------------------------------------------------------------------


def test_fusion_needs_agreement_or_a_timeout() -> None:
    fusion = StockFusion(disagree_timeout_s=30)
    assert fusion.camera("A", True, now=0) == []  # camera alone: not yet
    assert fusion.tick(now=29.9) == []
    assert not fusion.out_of_stock("A")
    events = fusion.weight("A", True, now=10)  # weight agrees: out of stock at once
    assert [(e.kind, e.source, e.ts) for e in events] == [("out_of_stock", "camera+weight", 10)]
    assert fusion.camera("A", False, now=11) == []  # camera sees stock, weight still empty: stays out
    assert [(e.kind, e.source) for e in fusion.weight("A", False, now=12)] == [("restocked", "camera+weight")]

    assert fusion.weight("B", True, now=100) == []  # weight says empty, camera says stocked: disagreement
    assert fusion.camera("B", False, now=101) == []
    assert fusion.tick(now=129) == []
    late = fusion.tick(now=130)
    assert [(e.kind, e.slot, e.source, e.disagreed_s) for e in late] == [("out_of_stock", "B", "weight", 30)]
    assert fusion.tick(now=500) == []  # reported once

    assert fusion.camera("C", True, now=0) == []
    assert fusion.camera("C", False, now=5) == []  # camera changed its mind before the timeout
    assert fusion.tick(now=60) == []


def test_weight_events_drive_fusion() -> None:
    processor = SensorProcessor(slots={"1/3": WeightConfig(unit_g=250)})
    fusion = StockFusion(disagree_timeout_s=60)
    out = []
    for ts, grams in enumerate([500, 500, 500, 4, 4, 4]):
        for e in processor.feed(W(grams), float(ts)):
            assert isinstance(e, WeightEvent)
            out += fusion.weight(f"{e.shelf}/{e.slot}", e.empty, e.ts)
    assert out == []  # weight alone says empty
    out += fusion.camera("1/3", True, now=6.0)
    assert [(e.kind, e.slot) for e in out] == [("out_of_stock", "1/3")]


# --- the reader on real pseudo-terminals and sockets ---------------------------------------------------------


class Pty:
    """A pseudo-terminal pair; ``link`` (like ``/dev/serial/by-id/...``) points at its slave side."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tmp = link.with_suffix(".new")
        tmp.symlink_to(os.ttyname(self.slave))
        os.replace(tmp, link)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


SEGMENT_A = [
    b"\x00\xff" + W(1500.4)[:9], W(1500.4)[9:], W(1501.1) + W(1499.6),  # settles at 1500 g: no event
    b"\x07\x1b[2Jnoise\n", W(900)[:-4] + b"00\r\n", format_line("W", 1, 3, "abc"), b"$" + b"A" * 200 + b"\n",
    W(1800) + W(1650) + W(1320),  # a hand on the shelf
    W(1250.2), W(1249.5) + W(1250.8),  # one item (250 g) taken
    D(120, 118), D(123, 119),  # door counter: 3 in, 1 out
    b"$W,1,3,12",  # unplugged in the middle of a line
]
SEGMENT_B = [
    W(1000) * 3,  # another item taken while it was unplugged
    W(4.0) + W(4.2) + W(3.9),  # the rest taken: empty
    D(2, 1),  # the door counter rebooted too
    W(502) * 3,  # two back
    b"".join(W(502 + 0.5 * i) for i in range(100)),  # 50 g of drift: no event
]
EXPECTED = [
    ("pick_up", "1/3", -250, 1, False),
    ("footfall", "front", 3, 1),
    ("pick_up", "1/3", -250, 1, False),
    ("pick_up", "1/3", -996, 4, True),
    ("empty", "1/3", -996, None, True),
    ("footfall", "front", 2, 1),
    ("put_back", "1/3", 498, 2, False),
]


def test_reader_on_a_pty_with_noise_garbage_and_an_unplug(tmp_path: Path) -> None:
    collected: list[SensorEvent] = []
    link = tmp_path / "ttyWEIGHT"
    first = Pty(link)
    processor = SensorProcessor(slots={"1/3": WeightConfig(unit_g=250)})
    reader = SerialSensorReader(str(link), collected.append, processor=processor, retry_s=0.05, max_retry_s=0.2)
    stats = reader.stats
    reader.start()
    try:
        wait_for(lambda: stats.opens == 1, what="first open")
        sent = 0
        for chunk in SEGMENT_A:
            first.write(chunk)
            sent += len(chunk)
            time.sleep(0.02)
        wait_for(lambda: stats.bytes == sent, what="segment A read")
        first.unplug()
        wait_for(lambda: stats.disconnects == 1, what="the unplug noticed")
        time.sleep(0.3)  # the adapter stays away for a while: reopen attempts fail and are counted
        second = Pty(link)
        wait_for(lambda: stats.opens == 2, what="reconnect")
        for chunk in SEGMENT_B:
            second.write(chunk)
            sent += len(chunk)
        wait_for(lambda: stats.bytes == sent, what="segment B read")
    finally:
        reader.stop()
    second.unplug()
    assert summary(collected) == EXPECTED
    assert (stats.checksum_errors, stats.malformed, stats.overflows, stats.partial_lines) == (1, 2, 1, 1)
    assert (stats.disconnects, stats.reconnects, stats.counter_resets) == (1, 1, 1)
    assert stats.open_failures >= 1 and stats.garbage_bytes >= 2 + 10 + 201


class FlakySensorServer:
    """A TCP 'serial server' (like ser2net): sends one scripted segment per connection, then hangs up."""

    def __init__(self, segments: list[bytes]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.segments = segments
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for segment in self.segments:
            conn, _ = self.server.accept()
            with conn:
                time.sleep(0.2)  # pyserial flushes its input right after connecting
                conn.sendall(segment)
                time.sleep(0.3)

    def close(self) -> None:
        self.server.close()


def test_reader_over_socket_url_reconnects() -> None:
    collected: list[SensorEvent] = []
    server = FlakySensorServer([W(800) * 3 + W(550) * 3 + b"$W,1,3", W(300) * 3 + D(10, 0) + D(14, 2)])
    reader = SerialSensorReader(f"socket://127.0.0.1:{server.port}", collected.append, retry_s=0.05,
                                processor=SensorProcessor())
    reader.start()
    try:
        wait_for(lambda: len(collected) == 3, what="three events")
    finally:
        reader.stop()
        server.close()
    assert summary(collected) == [("pick_up", "1/3", -250, None, False), ("pick_up", "1/3", -250, None, False),
                                  ("footfall", "front", 4, 2)]
    assert reader.stats.partial_lines == 1 and reader.stats.reconnects >= 1
    assert isinstance(collected[-1], FootfallEvent)


def test_missing_port_is_retried_and_counted_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "ttyUSB9"
    reader = SerialSensorReader(str(missing), lambda e: None, retry_s=0.02, max_retry_s=0.05)
    with caplog.at_level(logging.WARNING, logger="hardware.serial_sensors"):
        reader.start()
        wait_for(lambda: reader.stats.open_failures >= 3, what="retries")
        reader.stop()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(missing) in warnings[0]  # logged once per outage, not per retry
    proc = subprocess.run([SMARTSTORE, "hw", "sensors", str(missing)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"smartstore: error: serial port {missing} does not exist"


def test_cli_prints_events_from_a_sensor() -> None:
    server = FlakySensorServer([W(800) * 3 + W(550) * 3 + D(1, 0) + D(2, 0)])
    try:
        proc = subprocess.run([SMARTSTORE, "hw", "sensors", f"socket://127.0.0.1:{server.port}", "--seconds", "1.5",
                               "--unit-g", "250"], capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert '"kind": "pick_up"' in lines[0] and '"units": 1' in lines[0]
    assert '"door": "front"' in lines[1] and '"entered": 1' in lines[1]
    assert lines[-1].startswith('{"stats": {"bytes": ')


def test_the_reader_alone_yields_protocol_records() -> None:
    """``hardware`` speaks the protocol only: without an analytics processor the reader hands on the readings."""
    collected: list[object] = []
    server = FlakySensorServer([W(800) + D(10, 0)])
    reader = SerialSensorReader(f"socket://127.0.0.1:{server.port}", collected.append, retry_s=0.05)
    reader.start()
    try:
        wait_for(lambda: len(collected) == 2, what="two records")
    finally:
        reader.stop()
        server.close()
    assert collected == [WeightReading("1", "3", 800.0), DoorCount("front", 10, 0)]
