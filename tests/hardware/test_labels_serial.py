"""The serial label driver against a pty that speaks the protocol of hardware/labels/serial_gateway.py exactly:
ACK, NAK (final and retried), garbage, bad CRCs, stale replies, silence, a device of another protocol, and a device
that is unplugged (and plugged in again behind the same by-id path)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.labels.base import LabelContent, LabelError, create, parse_gateway_config, push_with_retry
from hardware.labels.serial_gateway import MAX_LINE, SerialLabelGateway, crc, frame, price_line, unframe
from tests.hardware.label_gateways import SerialGateway

PRICE = LabelContent("tag-7", "SKU 1/ä", 2.5, "EUR", was=2.99, promo="-17% now")


@pytest.fixture
def device(tmp_path: Path) -> Iterator[SerialGateway]:
    with SerialGateway(tmp_path) as instance:
        yield instance


@pytest.fixture
def driver(device: SerialGateway) -> Iterator[SerialLabelGateway]:
    config = parse_gateway_config({"type": "serial", "port": str(device.port), "timeout_s": 1.0, "attempts": 3,
                                   "retry_min_s": 0.01, "retry_max_s": 0.02})
    made = create(config)
    assert isinstance(made, SerialLabelGateway)
    yield made
    made.close()


def test_framing() -> None:
    assert frame("ACK", 7) == b"ACK 7*" + crc(b"ACK 7").encode() + b"\r\n"
    assert unframe(frame("NAK", 3, "BUSY").rstrip(b"\n")) == ["NAK", "3", "BUSY"]
    assert unframe(b"ACK 7*0000") is None and unframe(b"ACK 7") is None
    line = price_line(12, PRICE)
    assert line.startswith(b"PRICE 12 tag-7 2.50 EUR 2.99 SKU%201%2F%C3%A4 -17%25%20now*")
    assert unframe(price_line(1, LabelContent("t", "S", 3, "JPY")).rstrip(b"\r\n")) == [
        "PRICE", "1", "t", "3", "JPY", "-", "S", "-"]


def test_hello_then_price_acknowledged(device: SerialGateway, driver: SerialLabelGateway) -> None:
    ack = push_with_retry(driver, PRICE)
    assert (ack.detail, ack.attempts) == ("ACK 2", 1)
    assert [f[0] for f in device.received] == ["HELLO", "PRICE"] and driver.firmware == "sim-1.0"
    assert device.shown["tag-7"] == {"price": "2.50", "currency": "EUR", "was": "2.99", "sku": "SKU%201%2F%C3%A4",
                                     "promo": "-17%25%20now"}
    push_with_retry(driver, LabelContent("tag-8", "S", 1, "EUR"))
    assert [f[0] for f in device.received] == ["HELLO", "PRICE", "PRICE"]  # one HELLO per connection


@pytest.mark.parametrize("step", ["nak:BUSY", "nak:TAG_OFFLINE", "garbage", "badcrc", "stale", "silence"])
def test_transient_trouble_is_retried(device: SerialGateway, driver: SerialLabelGateway, step: str) -> None:
    device.script = [step]
    ack = push_with_retry(driver, PRICE)
    assert ack.attempts == 2 and "tag-7" in device.shown
    seqs = [f[1] for f in device.received if f[0] == "PRICE"]
    assert len(seqs) == 2 and seqs[0] != seqs[1]  # a retry is a new request


@pytest.mark.parametrize(("script", "reason", "pushes"), [
    (["nak:UNKNOWN_TAG"], "NAK UNKNOWN_TAG$", 1),
    (["nak:BAD_FIELD"], "NAK BAD_FIELD$", 1),
    (["nak:BUSY"] * 3, "NAK BUSY \\(after 3 attempts\\)", 3),
    (["garbage"] * 3, "no reply within 1 s \\(after 3 attempts\\)", 3),
    (["silence"] * 3, "no reply within 1 s \\(after 3 attempts\\)", 3),
])
def test_failures_name_their_reason(device: SerialGateway, driver: SerialLabelGateway, script: list[str],
                                    reason: str, pushes: int) -> None:
    device.script = list(script)
    with pytest.raises(LabelError, match=reason):
        push_with_retry(driver, PRICE)
    assert sum(f[0] == "PRICE" for f in device.received) == pushes and "tag-7" not in device.shown
    assert driver.stats.garbage_lines == (3 if script[0] == "garbage" else 0)


def test_device_unplugged_and_back(device: SerialGateway, driver: SerialLabelGateway) -> None:
    push_with_retry(driver, PRICE)
    device.script = ["vanish"]
    started = time.monotonic()
    with pytest.raises(LabelError, match=r"serial gateway .* (lost|unavailable)"):
        push_with_retry(driver, LabelContent("tag-8", "S", 1, "EUR"))
    assert time.monotonic() - started < 3 * 1.0 + 1
    assert driver.stats.lost == 1
    device.revive()  # plugged in again: the same by-id path, a new pty
    ack = push_with_retry(driver, LabelContent("tag-8", "S", 1, "EUR"))
    assert ack.attempts == 1 and device.shown["tag-8"]["price"] == "1.00"
    assert driver.stats.opens == 2


def test_wrong_protocol_and_bad_tag_ids_are_not_retried(device: SerialGateway, driver: SerialLabelGateway) -> None:
    with pytest.raises(LabelError, match="not a serial gateway tag id"):
        push_with_retry(driver, LabelContent("tag 7", "S", 1, "EUR"))
    device.protocol = 2
    with pytest.raises(LabelError, match=re.escape("speaks 'READY 1 2 sim-1.0', not protocol 1")):
        push_with_retry(driver, PRICE)
    assert [f[0] for f in device.received] == ["HELLO"]


def test_overlong_lines_are_dropped(device: SerialGateway, driver: SerialLabelGateway) -> None:
    assert driver._lines(b"x" * (MAX_LINE + 10)) == []
    assert driver._lines(b"tail\n" + frame("ACK", 5)) == [frame("ACK", 5).rstrip(b"\n")]
    assert driver.stats.overflows == 1
