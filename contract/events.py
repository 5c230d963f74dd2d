"""Versioned events: the :class:`Record` every producer emits and the :class:`Event` envelope the edge publishes
and the collector stores.

The envelope (``v``, ``id``, ``kind``, ``store``, ``device``, ``camera``, ``seq``, ``ts``, ``data``, and ``model``
when a model produced the event) is fixed by ``contract/schemas/event.schema.json``; per-kind ``data`` schemas live
beside it as ``contract/schemas/<kind>.schema.json``. See ``docs/events.md``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from contract.topics import TOPIC_PREFIX, event_topic

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z`` suffix."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The model behind an event: its ``name``, ``version`` (a deployed bundle's signed version, else its
    ``model.yaml``'s) and the ``sha256`` of the file that ran. The envelope's ``model``, and ``data.model`` of
    ``device.health``."""

    name: str
    version: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Record:
    """What every producer (people counting, shelf, sensors, the service's health) emits: an event ``kind``
    (e.g. ``footfall.crossing``), its ``data`` payload (the kind's schema) and when it happened, ``ts`` in Unix
    seconds. The service turns it into an :class:`Event` with :meth:`Event.from_record`; ``model``: the model that
    produced it, when the producer knows better than the service (which fills in its pipeline's)."""

    kind: str
    data: dict[str, Any]
    ts: float
    model: ModelRef | None = None


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
    model: ModelRef | None = None

    @classmethod
    def from_record(cls, record: Record, store: str, device: str, camera: str | None = None,
                    model: ModelRef | None = None) -> Event:
        """The envelope for ``record`` from ``store``/``device`` (``camera``: ``None`` for device-level events);
        ``model``: what produced it unless the record names its own. ``seq`` is 0 until the outbox numbers it."""
        return cls(record.kind, store, device, 0, record.data, camera=camera,
                   ts=datetime.fromtimestamp(record.ts, UTC), model=record.model or model)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
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
        if self.model is not None:
            body["model"] = self.model.to_dict()
        return body

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    def topic(self, prefix: str = TOPIC_PREFIX) -> str:
        """``<prefix>/<store>/<device>/<kind with dots as slashes>``, e.g. ``.../footfall/crossing``."""
        return event_topic(self.store, self.device, self.kind, prefix)


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


def has_schema(name: str) -> bool:
    """Whether ``contract/schemas/<name>.schema.json`` exists (not every kind has a ``data`` schema)."""
    return resources.files("contract.schemas").joinpath(f"{name}.schema.json").is_file()


@cache
def load_schema(name: str = "event") -> dict[str, Any]:
    """A JSON Schema shipped in ``contract/schemas`` (``event`` is the envelope; a kind, ``status``, ``receipt``)."""
    text = resources.files("contract.schemas").joinpath(f"{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema
