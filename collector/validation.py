"""Check one MQTT message: an accepted event, a device status update, or a rejection with a reason.

Never raises: whatever the bytes, the result is :class:`Accepted`, :class:`Status` or :class:`Rejected`
(which the ingest writes to the dead-letter table with the raw bytes). Envelope and per-kind ``data``
schemas and the topic rules come from the :mod:`contract` package (``contract/schemas``) and the schemas are
compiled once with jsonschema-rs.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema_rs

from contract.events import SCHEMA_VERSION, has_schema, load_schema
from contract.topics import TOPIC_PREFIX, event_topic, status_topic

#: Rejection reasons (the ``reason`` column of the dead-letter table and the metrics label).
OVERSIZED, BAD_JSON, UNKNOWN_VERSION, INVALID = "oversized", "bad_json", "unknown_version", "invalid"
INVALID_DATA, TOPIC_MISMATCH, OUT_OF_RANGE, BAD_TOPIC = "invalid_data", "topic_mismatch", "out_of_range", "bad_topic"
INTERNAL, STORE_ERROR = "internal", "store_error"
TS_RANGE, SEQ_WINDOW = "ts_range", "seq_window"  # ingest sanity limits (``ingest.ts_*``, ``ingest.seq_window``)
REASONS = (OVERSIZED, BAD_JSON, UNKNOWN_VERSION, INVALID, INVALID_DATA, TOPIC_MISMATCH, OUT_OF_RANGE, BAD_TOPIC,
           INTERNAL, STORE_ERROR, TS_RANGE, SEQ_WINDOW)

MAX_INT = 2**53  # integers beyond this lose precision in JSON consumers and overflow 64-bit columns in sums
DETAIL_CHARS = 300


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event, ready to store. ``ts`` is epoch seconds; ``raw`` is the message text as received."""

    id: str
    kind: str
    store: str
    device: str
    camera: str | None
    seq: int
    ts: float
    data: dict[str, Any]
    raw: str
    topic: str = ""
    outbox: str | None = None  # the edge outbox the seq belongs to (MQTT 5 user property), for receipts
    floor: int | None = None  # the edge's lowest unsettled seq when it sent this (user property)


@dataclass(frozen=True, slots=True)
class TsLimits:
    """How far an event's ``ts`` may be from the time it is received (seconds)."""

    future_s: float = 86400.0
    past_s: float = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class Status:
    """A retained device status: ``online`` or ``offline`` at ``ts``."""

    store: str
    device: str
    state: str
    ts: float
    clean: bool | None


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str
    topic: str
    payload: bytes


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@cache
def _validator(name: str) -> Any:
    """Compiled validator for ``contract/schemas/<name>.schema.json``; ``None`` where that schema does not exist."""
    if not has_schema(name):
        return None
    return jsonschema_rs.validator_for(load_schema(name), validate_formats=True)


def clean_text(text: str, limit: int = DETAIL_CHARS) -> str:
    """Printable, storable text (no NUL, no lone surrogates), cut to ``limit`` characters."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\\0")[:limit]


def _first_error(validator: Any, instance: Any) -> str | None:
    try:
        if validator.is_valid(instance):
            return None
        for error in validator.iter_errors(instance):
            where = "/".join(str(part) for part in error.instance_path) or "(root)"
            return f"{where}: {error.message}"
    except (ValueError, OverflowError, TypeError) as exc:  # numbers jsonschema-rs cannot represent
        return f"unrepresentable value: {exc}"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_scalars(data: dict[str, Any]) -> str | None:
    """Top-level ``data`` values become columns of roll-ups: bounded numbers, storable strings."""
    for key, value in data.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and abs(value) > MAX_INT:
            return f"data/{key}: integer out of range"
        if isinstance(value, float) and not math.isfinite(value):
            return f"data/{key}: number is not finite"
        if isinstance(value, str) and ("\x00" in value or (not value.isascii() and not _encodable(value))):
            return f"data/{key}: string holds NUL or invalid unicode"
    return None


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _decode(topic: str, payload: bytes, max_bytes: int) -> Rejected | tuple[str, Any]:
    """``(text, message)``, or a rejection when the bytes are not one UTF-8 JSON document of bounded size."""
    if len(payload) > max_bytes:
        return Rejected(OVERSIZED, f"{len(payload)} bytes > {max_bytes}", topic, payload)
    try:
        text = payload.decode("utf-8")
        return text, _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return Rejected(BAD_JSON, clean_text(f"{type(exc).__name__}: {exc}"), topic, payload)


def check_event(topic: str, payload: bytes, prefix: str = TOPIC_PREFIX, max_bytes: int = 65536,
                ts_limits: TsLimits | None = None) -> Accepted | Rejected:
    """Validate an event message published on ``topic``; never raises. ``ts_limits``: the event time must lie
    within that distance of now (``ts_range`` otherwise)."""
    try:
        return _check_event(topic, payload, prefix, max_bytes, ts_limits)
    except Exception as exc:  # the last guard: a bug here must dead-letter, not kill the collector
        return Rejected(INTERNAL, clean_text(f"{type(exc).__name__}: {exc}"), topic, payload)


def _ts_error(ts: float, limits: TsLimits) -> str | None:
    offset = ts - time.time()
    if offset > limits.future_s:
        return f"ts is {offset:.0f} s ahead of the receive time (limit {limits.future_s:.0f} s)"
    if -offset > limits.past_s:
        return f"ts is {-offset:.0f} s before the receive time (limit {limits.past_s:.0f} s)"
    return None


def _check_event(topic: str, payload: bytes, prefix: str, max_bytes: int,
                 ts_limits: TsLimits | None) -> Accepted | Rejected:
    decoded = _decode(topic, payload, max_bytes)
    if isinstance(decoded, Rejected):
        return decoded
    text, message = decoded
    if isinstance(message, dict) and "v" in message and message["v"] != SCHEMA_VERSION:
        return Rejected(UNKNOWN_VERSION, clean_text(f"v={message['v']!r}, this collector reads v={SCHEMA_VERSION}"),
                        topic, payload)
    error = _first_error(_validator("event"), message)
    if error is not None:
        return Rejected(INVALID, clean_text(error), topic, payload)
    kind: str = message["kind"]
    data_validator = _validator(kind)
    error = _first_error(data_validator, message["data"]) if data_validator is not None else None
    if error is not None:
        return Rejected(INVALID_DATA, clean_text(f"{kind}: {error}"), topic, payload)
    expected = event_topic(message["store"], message["device"], kind, prefix)
    if topic != expected:
        return Rejected(TOPIC_MISMATCH, clean_text(f"expected topic {expected}"), topic, payload)
    seq = message["seq"]
    if seq > 2**63 - 1:
        return Rejected(OUT_OF_RANGE, "seq beyond 64 bits", topic, payload)
    error = _check_scalars(message["data"])
    try:
        ts = datetime.fromisoformat(message["ts"]).timestamp()
    except (ValueError, OverflowError) as exc:
        error = error or f"{type(exc).__name__}: {exc}"
    if error is not None:
        return Rejected(OUT_OF_RANGE, clean_text(error), topic, payload)
    error = _ts_error(ts, ts_limits) if ts_limits is not None else None
    if error is not None:
        return Rejected(TS_RANGE, error, topic, payload)
    return Accepted(message["id"], kind, message["store"], message["device"], message.get("camera"), seq, ts,
                    message["data"], text, topic)


def check_status(topic: str, payload: bytes, prefix: str = TOPIC_PREFIX) -> Status | Rejected:
    """Validate a retained status message; never raises."""
    try:
        decoded = _decode(topic, payload, 4096)
        if isinstance(decoded, Rejected):
            return decoded
        message = decoded[1]
        validator = _validator("status")
        error = _first_error(validator, message) if validator is not None else None
        if error is None and not isinstance(message, dict):
            error = "(root): not an object"
        if error is not None:
            return Rejected(INVALID, clean_text(f"status: {error}"), topic, payload)
        expected = status_topic(message["store"], message["device"], prefix)
        if topic != expected:
            return Rejected(TOPIC_MISMATCH, clean_text(f"expected topic {expected}"), topic, payload)
        ts = datetime.fromisoformat(message["ts"]).timestamp()
        return Status(message["store"], message["device"], message["state"], ts, message.get("clean"))
    except Exception as exc:
        return Rejected(INTERNAL, clean_text(f"{type(exc).__name__}: {exc}"), topic, payload)
