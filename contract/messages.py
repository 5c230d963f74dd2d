"""The retained messages beside the events: device status (edge -> collector) and receipts (collector -> edge).

``status.schema.json`` and ``receipt.schema.json`` in ``contract/schemas`` describe them; ``docs/events.md``
(Device status, Receipts) says how they are used.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from contract.events import SCHEMA_VERSION, format_ts, utc_now


def status_payload(store: str, device: str, state: str, ts: datetime | None = None, clean: bool = False) -> bytes:
    """The retained status message (``status.schema.json``): ``online``, or ``offline`` (last will / shutdown)."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "store": store, "device": device, "state": state,
                            "ts": format_ts(ts or utc_now())}
    if state == "offline":
        body["clean"] = clean
    return json.dumps(body, separators=(",", ":")).encode()


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
