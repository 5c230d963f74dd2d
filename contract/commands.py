"""Commands to one device and its replies (collector -> edge -> collector), and the signed manifests they carry.

``command.schema.json``, ``reply.schema.json`` and ``manifest.schema.json`` in ``contract/schemas`` describe them;
``docs/events.md`` (Commands) says how they travel: MQTT 5 request/response on
``contract.topics.command_topic`` with a response topic, correlation data and a message expiry.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from contract.events import SCHEMA_VERSION, format_ts, load_schema, utc_now

COMMANDS = ("apply_config", "deploy_model", "rollback", "restart_pipeline", "report_status", "set_prices")
ReplyState = Literal["accepted", "applied", "failed"]
LabelState = Literal["applied", "failed"]
MAX_LABELS = 500  # prices in one set_prices command (command.schema.json, args.labels)


class ContractError(ValueError):
    """A command, reply or manifest that does not match its schema (the message says where)."""


def check(body: Any, schema: str) -> None:
    """``ContractError`` unless ``body`` matches ``contract/schemas/<schema>.schema.json``."""
    import jsonschema

    try:
        jsonschema.validate(body, load_schema(schema), format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ContractError(f"{schema}: {where}: {exc.message}") from None


def decoded(payload: bytes, schema: str) -> dict[str, Any]:
    """``payload`` as JSON checked against ``schema``, or :class:`ContractError`."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise ContractError(f"{schema}: not JSON") from None
    check(body, schema)
    result: dict[str, Any] = body
    return result


def parse_ts(text: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset; none is read as UTC); ``ContractError`` when it is not one."""
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ContractError(f"not an RFC 3339 time: {text[:40]!r}") from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Command:
    """One command to ``store``/``device``; ``args`` as the command's schema says (a signed manifest, a name)."""

    command: str
    store: str
    device: str
    args: dict[str, Any] = field(default_factory=dict)
    expires: datetime = field(default_factory=lambda: utc_now() + timedelta(minutes=10))
    ts: datetime = field(default_factory=utc_now)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> bytes:
        body = {"v": SCHEMA_VERSION, "id": self.id, "command": self.command, "store": self.store,
                "device": self.device, "ts": format_ts(self.ts), "expires": format_ts(self.expires),
                "args": self.args}
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def parse(cls, payload: bytes) -> Command:
        """The command in ``payload``, or :class:`ContractError` (not JSON, or not ``command.schema.json``)."""
        body = decoded(payload, "command")
        return cls(body["command"], body["store"], body["device"], body.get("args", {}),
                   parse_ts(body["expires"]), parse_ts(body["ts"]), body["id"])

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utc_now()) >= self.expires


@dataclass(frozen=True, slots=True)
class Reply:
    """The device's answer to command ``id``: ``accepted``, then ``applied`` or ``failed`` with a ``reason``."""

    id: str
    command: str
    store: str
    device: str
    state: ReplyState
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, "id": self.id, "command": self.command, "store": self.store,
                "device": self.device, "state": self.state, "reason": self.reason, "ts": format_ts(self.ts),
                "detail": self.detail}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False, default=str).encode()

    @classmethod
    def parse(cls, payload: bytes) -> Reply:
        body = decoded(payload, "reply")
        return cls(body["id"], body["command"], body["store"], body["device"], body["state"], body["reason"],
                   body.get("detail", {}), parse_ts(body["ts"]))


@dataclass(frozen=True, slots=True)
class LabelPrice:
    """One entry of ``set_prices`` ``args.labels``: what shelf label ``label`` (a tag MAC or id) is to show."""

    price_id: str
    sku: str
    label: str
    price: float
    currency: str
    was: float | None = None
    promo: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"price_id": self.price_id, "sku": self.sku, "label": self.label, "price": self.price,
                "currency": self.currency, "was": self.was, "promo": self.promo}

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> LabelPrice:
        return cls(item["price_id"], item["sku"], item["label"], item["price"], item["currency"],
                   item.get("was"), item.get("promo"))


@dataclass(frozen=True, slots=True)
class LabelResult:
    """The device's answer for one price of a ``set_prices`` command (``Reply.detail["labels"]``)."""

    price_id: str
    state: LabelState
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"price_id": self.price_id, "state": self.state, "reason": self.reason}


def set_prices_command(store: str, device: str, prices: list[LabelPrice], **fields: Any) -> Command:
    """A ``set_prices`` command (``fields``: ``expires``, ``id``), checked against ``command.schema.json``."""
    command = Command("set_prices", store, device, {"labels": [p.to_dict() for p in prices]}, **fields)
    check(json.loads(command.to_json()), "command")
    return command


def label_prices(command: Command) -> list[LabelPrice]:
    """The prices of a parsed ``set_prices`` command."""
    return [LabelPrice.from_dict(item) for item in command.args["labels"]]


def label_results(reply: Reply) -> list[LabelResult]:
    """The per-price results of a ``set_prices`` reply (``applied``, or ``failed`` when any label failed); none
    for ``accepted`` or a command refused before it ran."""
    return [LabelResult(r["price_id"], r["state"], r["reason"]) for r in reply.detail.get("labels", [])]


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Manifest:
    """The body of a signed manifest (``manifest.schema.json``): a model bundle's files or a config, its version
    and the stores and devices it is for."""

    type: Literal["model", "config"]
    name: str
    version: int
    stores: tuple[str, ...]
    devices: tuple[str, ...]
    files: tuple[FileEntry, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Manifest:
        check(body, "manifest")
        files = tuple(FileEntry(f["path"], f["sha256"], f["size"], tuple(f["urls"])) for f in body.get("files", []))
        return cls(body["type"], body["name"], body["version"], tuple(body["scope"]["stores"]),
                   tuple(body["scope"]["devices"]), files, body.get("config", {}))

    def for_device(self, store: str, device: str) -> bool:
        return ("*" in self.stores or store in self.stores) and ("*" in self.devices or device in self.devices)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def manifest_body(type_: Literal["model", "config"], name: str, version: int, *, stores: list[str],
                  devices: list[str], files: list[dict[str, Any]] | None = None,
                  config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A manifest body ready to sign (:func:`contract.signing.sign_document`), checked against its schema."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "type": type_, "name": name, "version": version,
                            "scope": {"stores": stores, "devices": devices}, "created": format_ts(utc_now())}
    if files is not None:
        body["files"] = files
    if config is not None:
        body["config"] = config
    check(body, "manifest")
    return body
