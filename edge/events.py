"""Versioned events: the one ``Event`` type family the edge publishes and the collector stores.

The envelope (``v``, ``id``, ``kind``, ``store``, ``device``, ``camera``, ``seq``, ``ts``, ``data``) is
fixed by ``edge/schemas/event.schema.json``; per-kind ``data`` schemas live beside it as
``edge/schemas/<kind>.schema.json``; the retained device status payload is ``status.schema.json`` and the
collector's retained per-device receipt is ``receipt.schema.json``.
See ``docs/events.md``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 1
TOPIC_PREFIX = "smartstore/v1"
#: Outbox priority: under the disk cap the oldest low-priority events are dropped first.
LOW_PRIORITY, NORMAL_PRIORITY = 0, 1
LOW_PRIORITY_KINDS = frozenset({"device.health", "zone.occupancy", "shelf.snapshot"})


def priority(kind: str) -> int:
    return LOW_PRIORITY if kind in LOW_PRIORITY_KINDS else NORMAL_PRIORITY


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z`` suffix."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    store: str
    device: str
    seq: int
    data: dict[str, Any]
    camera: str | None = None
    ts: datetime = field(default_factory=utc_now)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "store": self.store,
            "device": self.device,
            "camera": self.camera,
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "data": self.data,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    def topic(self, prefix: str = TOPIC_PREFIX) -> str:
        """``<prefix>/<store>/<device>/<kind with dots as slashes>``, e.g. ``.../footfall/crossing``."""
        return f"{prefix}/{self.store}/{self.device}/{self.kind.replace('.', '/')}"


def status_topic(store: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    """Retained ``online``/``offline`` device status (the MQTT last will goes here)."""
    return f"{prefix}/{store}/{device}/status"


def status_payload(store: str, device: str, state: str, ts: datetime | None = None, clean: bool = False) -> bytes:
    """The retained status message (``status.schema.json``): ``online``, or ``offline`` (last will / shutdown)."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "store": store, "device": device, "state": state,
                            "ts": format_ts(ts or utc_now())}
    if state == "offline":
        body["clean"] = clean
    return json.dumps(body, separators=(",", ":")).encode()


def receipt_topic(store: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    """Retained collector receipt for one device: the highest contiguous ``seq`` the collector has committed."""
    return f"{prefix}/{store}/{device}/receipt"


def receipt_payload(store: str, device: str, outbox: str, seq: int, ts: datetime | None = None) -> bytes:
    """The receipt message (``receipt.schema.json``): events ``<= seq`` of outbox ``outbox`` are stored."""
    body = {"v": SCHEMA_VERSION, "store": store, "device": device, "outbox": outbox, "seq": seq,
            "ts": format_ts(ts or utc_now())}
    return json.dumps(body, separators=(",", ":")).encode()


def parse_receipt(payload: bytes, store: str, device: str) -> tuple[str, int] | None:
    """``(outbox, seq)`` of a receipt for ``store``/``device``; None for anything else (never raises)."""
    try:
        body = json.loads(payload)
        if (not isinstance(body, dict) or body.get("v") != SCHEMA_VERSION or body.get("store") != store
                or body.get("device") != device):
            return None
        outbox, seq = body.get("outbox"), body.get("seq")
        if not isinstance(outbox, str) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            return None
        return outbox, seq
    except (ValueError, TypeError):
        return None


def kinds() -> tuple[str, ...]:
    """Every event kind the envelope allows."""
    return tuple(load_schema()["properties"]["kind"]["enum"])


def validate(message: dict[str, Any]) -> None:
    """Check an event (as decoded JSON) against the envelope and its kind's data schema.

    Raises ``jsonschema.ValidationError``. Unknown extra ``data`` fields are allowed (forward compatible).
    """
    import jsonschema

    checker = jsonschema.FormatChecker()
    jsonschema.validate(message, load_schema(), format_checker=checker)
    jsonschema.validate(message["data"], load_schema(message["kind"]), format_checker=checker)


@cache
def load_schema(name: str = "event") -> dict[str, Any]:
    """A JSON Schema shipped in ``edge/schemas`` (``event`` is the envelope)."""
    text = resources.files("edge.schemas").joinpath(f"{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema
