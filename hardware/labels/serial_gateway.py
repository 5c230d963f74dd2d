"""A serial (pyserial) label gateway: a radio base station that takes prices as ASCII lines and draws the tags
itself. The protocol, exactly (docs/labels.md, "Serial gateway protocol")::

    host -> gateway   HELLO <seq>*<CRC>
                      PRICE <seq> <tag> <price> <currency> <was> <sku> <promo>*<CRC>
    gateway -> host   READY <seq> <protocol> <firmware>*<CRC>     (to HELLO; protocol 1)
                      ACK <seq>*<CRC>                             (the tag shows the price)
                      NAK <seq> <code>*<CRC>                      (UNKNOWN_TAG, BAD_FIELD: final; BUSY,
                                                                   TAG_OFFLINE, CRC: retried)

One line per message, ``\\n``-terminated (``\\r\\n`` accepted), at most :data:`MAX_LINE` bytes with the terminator.
``<CRC>``: CRC-16/CCITT-FALSE (``binascii.crc_hqx(body, 0xFFFF)``) of the bytes before ``*``, 4 upper-case hex
digits. Fields are separated by one space; ``<seq>`` is 1-65535 (one more per request, wrapping to 1); ``<price>``
and ``<was>`` are decimals with the currency's decimals; ``<sku>`` and ``<promo>`` are UTF-8, percent-encoded
(every byte but ``A-Z a-z 0-9 - . _ ~``); ``-`` stands for no ``<was>`` or ``<promo>``. Lines that do not parse,
fail the CRC or answer another ``<seq>`` are skipped and counted; no answer within ``timeout_s`` is retried with
a new ``<seq>``. The port is opened on the first push and after it is lost, each time with ``HELLO``.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from hardware.labels.base import GatewayConfig, LabelContent, LabelError, LabelGateway
from hardware.labels.render import amount

log = logging.getLogger("smartstore.labels")

try:  # a pty or tty that goes away mid-write raises termios.error (EIO) from pyserial's flush, not an OSError
    from termios import error as _TermiosError
except ImportError:  # not POSIX
    _TermiosError = OSError  # type: ignore[misc, assignment]
PROTOCOL = 1
MAX_LINE = 512
TAG = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
FINAL_NAKS = {"UNKNOWN_TAG", "BAD_FIELD"}
_REPLY = re.compile(r"^(READY|ACK|NAK) (\d{1,5})(?: (\S+))?(?: (\S+))?$")


def crc(body: bytes) -> str:
    return f"{binascii.crc_hqx(body, 0xFFFF):04X}"


def frame(*fields: object) -> bytes:
    """``frame("ACK", 7)`` -> ``b"ACK 7*XXXX\\r\\n"``: one line of the protocol."""
    body = " ".join(str(f) for f in fields).encode("ascii")
    return body + b"*" + crc(body).encode() + b"\r\n"


def unframe(line: bytes) -> list[str] | None:
    """The fields of one received line (terminator stripped), or None when it is not a valid line."""
    body, star, sent = line.rstrip(b"\r").rpartition(b"*")
    if not star or sent.upper() != crc(body).encode():
        return None
    try:
        return body.decode("ascii").split(" ")
    except UnicodeDecodeError:
        return None


def text_field(value: str | None) -> str:
    """Free text as one field: percent-encoded UTF-8, ``-`` for none."""
    return "-" if value is None else quote(value, safe="") or "%20"


def price_line(seq: int, content: LabelContent) -> bytes:
    was = "-" if content.was is None else amount(content.was, content.currency)
    return frame("PRICE", seq, content.label, amount(content.price, content.currency), content.currency, was,
                 text_field(content.sku), text_field(content.promo))


@dataclass
class GatewayStats:
    """What went wrong on the line, counted (for logs)."""

    opens: int = 0
    lost: int = 0
    garbage_lines: int = 0  # no CRC, a bad CRC, not the protocol
    stale_replies: int = 0  # a valid reply to another seq (an earlier, timed-out request)
    overflows: int = 0
    timeouts: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class SerialGatewayConfig(GatewayConfig):
    type: Literal["serial"] = "serial"
    port: str = Field(min_length=1)  # /dev/serial/by-id/... or a pyserial URL (socket://host:port)
    baud: int = Field(default=115200, gt=0)


class SerialLabelGateway(LabelGateway):
    """Labels through one serial gateway speaking the protocol above."""

    name = "serial"
    Config = SerialGatewayConfig
    config: SerialGatewayConfig

    def __init__(self, config: GatewayConfig) -> None:
        super().__init__(config)
        self.stats = GatewayStats()
        self.firmware: str | None = None
        self._conn: Any = None
        self._buffer = bytearray()
        self._overflowing = False
        self._seq = 0

    def describe(self) -> str:
        return f"serial gateway {self.config.port}"

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._conn = None
        self._buffer.clear()
        self._overflowing = False

    def push(self, content: LabelContent) -> str:
        if not TAG.fullmatch(content.label):
            raise LabelError(f"{content.label}: not a serial gateway tag id ({TAG.pattern})", retry=False)
        self._open(content.label)
        seq = self._next_seq()
        fields = self._request(price_line(seq, content), seq, content.label)
        if fields[0] == "ACK":
            return f"ACK {seq}"
        if fields[0] == "NAK":
            code = fields[2] if len(fields) > 2 else "?"
            raise LabelError(f"{content.label}: {self.describe()}: NAK {code}", retry=code not in FINAL_NAKS)
        raise LabelError(f"{content.label}: {self.describe()}: answered PRICE with {fields[0]}")

    def probe(self) -> str:
        """Open the port and say ``HELLO``."""
        try:
            self._open("probe")
            return f"{self.describe()}: READY, protocol {PROTOCOL}, firmware {self.firmware}"
        finally:
            self.close()

    # ---- the line -------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = self._seq % 65535 + 1
        return self._seq

    def _open(self, label: str) -> None:
        if self._conn is not None:
            return
        import serial

        try:
            self._conn = serial.serial_for_url(self.config.port, baudrate=self.config.baud, timeout=0.05,
                                               write_timeout=self.config.timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LabelError(f"{label}: {self.describe()} unavailable ({exc})") from None
        self.stats.opens += 1
        self._conn.reset_input_buffer()
        seq = self._next_seq()
        fields = self._request(frame("HELLO", seq), seq, label)
        if fields[0] != "READY" or len(fields) < 3 or fields[2] != str(PROTOCOL):
            self.close()
            raise LabelError(f"{label}: {self.describe()} speaks {' '.join(fields)[:40]!r}, not protocol "
                             f"{PROTOCOL}", retry=False)
        self.firmware = fields[3] if len(fields) > 3 else None
        log.info("labels: %s ready (firmware %s)", self.describe(), self.firmware)

    def _request(self, line: bytes, seq: int, label: str) -> list[str]:
        """Send ``line`` and wait ``timeout_s`` for the reply to ``seq``: its fields (``READY``/``ACK``/``NAK``)."""
        import serial

        try:
            self._conn.write(line)
            self._conn.flush()
            deadline = time.monotonic() + self.config.timeout_s
            while time.monotonic() < deadline:
                for received in self._lines(self._conn.read(max(self._conn.in_waiting, 1))):
                    fields = self._reply(received)
                    if fields is not None and fields[1] == str(seq):
                        return fields
                    if fields is not None:
                        self.stats.stale_replies += 1
        except (serial.SerialException, OSError, _TermiosError) as exc:
            self.stats.lost += 1
            self.close()
            raise LabelError(f"{label}: {self.describe()} lost ({exc})") from None
        self.stats.timeouts += 1
        raise LabelError(f"{label}: {self.describe()}: no reply within {self.config.timeout_s:g} s")

    def _reply(self, line: bytes) -> list[str] | None:
        fields = unframe(line)
        if fields is None or not _REPLY.fullmatch(" ".join(fields)):
            self.stats.garbage_lines += 1
            if self.stats.garbage_lines <= 10 or self.stats.garbage_lines % 1000 == 0:
                log.warning("labels: %s: skipped a line that is not the protocol: %r", self.describe(), line[:40])
            return None
        return fields

    def _lines(self, data: bytes) -> list[bytes]:
        """Complete lines in ``data`` after what was buffered; lines over :data:`MAX_LINE` are dropped."""
        lines = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            chunk = data[start:end]
            if not self._overflowing and len(self._buffer) + len(chunk) < MAX_LINE:
                lines.append(bytes(self._buffer + chunk))
            elif not self._overflowing:
                self.stats.overflows += 1
            self._buffer.clear()
            self._overflowing = False
            start = end + 1
        rest = data[start:]
        if not self._overflowing:
            self._buffer += rest
            if len(self._buffer) >= MAX_LINE:
                self.stats.overflows += 1
                self._buffer.clear()
                self._overflowing = True
        return [line for line in lines if line.strip()]
