"""The edge service configuration (``edge.yaml``), validated by pydantic.

Every field has a default that works except ``store``, ``device`` and ``cameras``. Errors name the file,
the field path and the offending value: ``edge.yaml: mqtt.port = 'abc': Input should be a valid integer``.
See ``edge/examples/edge.yaml`` and ``docs/edge-service.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.topics import TOPIC_PREFIX, check_prefix
from edge.analytics.config import CountingConfig, LineConfig, TrackerConfig, ZoneConfig
from edge.analytics.shelf_config import ShelfConfig, ShelfConfigError, load_shelf_config
from edge.engines.options import AUTO, check_engine_name, check_options
from edge.fleet_config import FleetConfig
from edge.labels_config import LabelsConfig
from edge.sensors import SensorsConfig
from edge.vision.tiling import Tiling
from edge.yamlfile import read_mapping
from errors import SmartstoreError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(SmartstoreError, ValueError):
    """A config file that cannot be read or does not validate; the message names file, field and value."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backoff(_Model):
    """Exponential backoff with full jitter between ``min_s`` and ``max_s``."""

    min_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Backoff:
        if self.max_s < self.min_s:
            raise ValueError(f"max_s ({self.max_s}) must be >= min_s ({self.min_s})")
        return self


class CameraShelfConfig(_Model):
    """Shelf analytics on a camera: the ``smartstore shelf`` config inline (``config``) or as a file (``file``)."""

    file: Path | None = None  # a shelf YAML as ``smartstore shelf --config`` takes it (relative to edge.yaml)
    config: ShelfConfig | None = None  # or the same inline
    every_s: float = Field(default=5.0, ge=0)  # shelves are static: analyse one frame this often (0: every frame)
    detector: str | None = None  # override the shelf config's product detector / embedder model / gallery file
    embedder: str | None = None
    gallery: Path | None = None  # relative to edge.yaml

    @model_validator(mode="after")
    def _one_source(self) -> CameraShelfConfig:
        if (self.file is None) == (self.config is None):
            raise ValueError("give exactly one of file (a shelf YAML) and config (the shelf config inline)")
        return self

    def resolved(self) -> ShelfConfig:
        """The shelf config with the overrides applied; a file is read now and its gallery is relative to it."""
        if self.config is not None:
            config, base = self.config, Path()
        else:
            assert self.file is not None
            config, base = load_shelf_config(self.file), self.file.parent
        gallery = self.gallery or (None if config.gallery is None else base / config.gallery)
        update: dict[str, Any] = {"gallery": None if gallery is None else str(gallery)}
        update.update({k: v for k, v in (("detector", self.detector), ("embedder", self.embedder)) if v})
        return config.model_copy(update=update)


class ShadowConfig(_Model):
    """A candidate person detector run beside the live one on this camera's frames (``edge/shadow.py``): its
    agreement with the live model goes out as ``model.shadow`` events, never as counts (docs/edge-service.md)."""

    model: str  # a model name under models/, a folder or a model.yaml (e.g. an unpacked bundle)
    engine: str = AUTO
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    device: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)  # None: the live model.confidence
    every_n: int = Field(default=5, ge=1)  # run the candidate on every Nth frame of the camera (bounds its cost)
    interval_s: float = Field(default=60.0, gt=0)  # one model.shadow event per this many seconds of frames
    iou: float = Field(default=0.5, gt=0, le=1)  # a live and a candidate box agree at this IoU (one-to-one)
    count: bool = True  # also feed the candidate's boxes to its own tracker and lines (crossings compared)
    options: dict[str, Any] = {}  # the candidate's engine options (docs/engines.md); threads defaults to 1

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        return check_engine_name(value)

    @model_validator(mode="after")
    def _engine_options(self) -> ShadowConfig:
        check_options(self.engine, self.options, self.device)
        return self


class CameraConfig(_Model):
    """One camera: a video file, a V4L2 index or device path, or an RTSP/HTTP URL."""

    id: str = Field(pattern=NAME_PATTERN)
    source: str | int
    loop: bool = False  # files: start again at the end
    pace: bool = True  # files: real frame rate (True) or as fast as possible
    fps: float | None = Field(default=None, gt=0)  # override the source's frame rate (pacing, V4L2 request)
    width: int | None = Field(default=None, gt=0)  # V4L2 capture size request
    height: int | None = Field(default=None, gt=0)
    reconnect: Backoff = Backoff()
    lines: list[LineConfig] = []  # counting lines (edge.analytics.config)
    zones: list[ZoneConfig] = []  # occupancy / dwell / queue zones
    tracker: TrackerConfig = TrackerConfig()
    shelf: CameraShelfConfig | None = None  # shelf analytics on this camera's frames (docs/edge-service.md)
    shadow: ShadowConfig | None = None  # a candidate model compared with the live one on these frames

    @model_validator(mode="after")
    def _counting(self) -> CameraConfig:
        CountingConfig(tracker=self.tracker, lines=self.lines, zones=self.zones)  # unique line/zone names
        return self

    def counting(self, intervals_s: list[int]) -> CountingConfig:
        return CountingConfig(tracker=self.tracker, lines=self.lines, zones=self.zones, intervals_s=intervals_s)


class ModelConfig(_Model):
    """The person detector. ``engine``, ``device`` and ``options`` are checked against the engine's own config
    (:mod:`edge.engines.options`) when the file loads; what ``engine: auto`` accepts: docs/engines.md."""

    name: str = "person-ssdlite"  # the shipped person detector
    engine: str = AUTO  # auto (hardware profile) or a registered engine (edge.engines.base.engine_names)
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    device: str | None = None  # None: what engine auto picks (else CPU); OpenVINO: CPU, GPU, NPU, AUTO
    confidence: float = Field(default=0.4, ge=0, le=1)
    options: dict[str, Any] = {}  # engine options, e.g. {threads: 2, hint: THROUGHPUT} (see docs/engines.md)
    # tiled inference for every camera (the cameras share one detector): "COLSxROWS" such as "2x1", or the
    # Tiling fields {cols, rows, overlap, full_frame, iou}; None: off (docs/edge-service.md, "Tiling")
    tiles: Tiling | None = None

    @field_validator("tiles", mode="before")
    @classmethod
    def _tiles_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cols, sep, rows = value.strip().lower().partition("x")
        if not (sep and cols.isdigit() and rows.isdigit() and int(cols) > 0 and int(rows) > 0):
            raise ValueError(f"expected COLSxROWS such as 2x1, got {value!r}")
        return {"cols": int(cols), "rows": int(rows)}

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        return check_engine_name(value)

    @model_validator(mode="after")
    def _engine_options(self) -> ModelConfig:
        check_options(self.engine, self.options, self.device)
        return self


class TlsConfig(_Model):
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False  # skip host-name verification (test brokers only)

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key must be given together")
        return self


class MqttConfig(_Model):
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str | None = None  # default: the device id
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 86400, ge=0)  # MQTT 5: how long the broker keeps our session
    topic_prefix: str = TOPIC_PREFIX
    drain_rate: float = Field(default=1000.0, ge=0)  # events/s when draining a backlog; 0 = unlimited
    inflight: int = Field(default=200, ge=1, le=65535)  # events published but not yet acknowledged
    reconnect: Backoff = Backoff(min_s=1.0, max_s=60.0)
    # End-to-end acknowledgement (docs/events.md): auto = wait for collector receipts once one was seen
    receipts: Literal["auto", "on", "off"] = "auto"
    receipt_timeout_s: float = Field(default=15.0, gt=0)  # re-send what stays unreceipted this long
    resend_max_s: float = Field(default=300.0, gt=0)  # re-send backoff cap while no receipt comes
    resend_batch: int = Field(default=1000, ge=1)  # oldest unreceipted events re-sent per attempt

    @model_validator(mode="after")
    def _receipts_need_v5(self) -> MqttConfig:
        if self.receipts == "on" and self.protocol != "5":
            raise ValueError("receipts: on needs protocol 5 (the outbox id and floor ride in user properties)")
        return self

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_text(cls, value: Any) -> Any:
        return {5: "5", 311: "3.1.1"}.get(value, value) if not isinstance(value, str) else value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)


def default_outbox_path() -> Path:
    """``$STATE_DIRECTORY/outbox.db`` (systemd's ``StateDirectory=smartstore``), else /var/lib/smartstore."""
    return Path(os.environ.get("STATE_DIRECTORY", "/var/lib/smartstore").split(":")[0]) / "outbox.db"


class OutboxConfig(_Model):
    path: Path = Field(default_factory=default_outbox_path)
    cap_mb: float = Field(default=256.0, ge=0.25)
    synchronous: Literal["normal", "full"] = "normal"  # full: fsync every commit (power-cut safe, slower)

    @property
    def cap_bytes(self) -> int:
        return int(self.cap_mb * 2**20)


class MetricsConfig(_Model):
    """The Prometheus endpoint (``edge/metrics_http.py``): off by default; loopback unless ``host`` is set."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)  # another address is logged as a warning at start
    port: int = Field(default=9464, ge=1, le=65535)


class HomeAssistantConfig(_Model):
    """Home Assistant MQTT discovery of the counts and occupancy (``edge/homeassistant.py``): off by default."""

    enabled: bool = False
    mqtt: MqttConfig | None = None  # the broker Home Assistant reads; None: the box's own mqtt: broker
    discovery_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_/-]+$")
    state_prefix: str = Field(default="smartstore-ha", pattern=r"^[A-Za-z0-9_/-]+$")


class EdgeConfig(_Model):
    store: str = Field(pattern=NAME_PATTERN)
    device: str = Field(pattern=NAME_PATTERN)
    cameras: list[CameraConfig] = Field(min_length=1)
    model: ModelConfig = ModelConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    sensors: SensorsConfig = SensorsConfig()  # serial weight strips / door counters (docs/hardware.md); none: off
    fleet: FleetConfig | None = None  # commands and signed bundles (docs/fleet.md); none: no command channel
    labels: LabelsConfig | None = None  # shelf-label gateways for set_prices commands (docs/labels.md)
    metrics: MetricsConfig = MetricsConfig()  # GET /metrics for Prometheus (docs/edge-service.md, "Metrics")
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()  # MQTT discovery of counts and occupancy; off
    health_interval_s: float = Field(default=30.0, gt=0)
    intervals_s: list[int] = Field(default_factory=lambda: [60, 3600])  # footfall aggregation intervals
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _unique_cameras(self) -> EdgeConfig:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(dupes)}")
        return self

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or self.device


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts) or "(top level)"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: ``file: field.path = value: message``."""
    lines = []
    for err in exc.errors():
        where = _location(tuple(err["loc"]))
        shown = "" if err["type"] == "missing" or isinstance(err["input"], dict) else f" = {_short(err['input'])}"
        lines.append(f"{source}: {where}{shown}: {err['msg']}")
    return "; ".join(lines)


def parse_config(data: Any, source: str = "<config>") -> EdgeConfig:
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_config(path: Path | str) -> EdgeConfig:
    """Read and validate ``path``; relative outbox/TLS paths are resolved against the file's folder."""
    path = Path(path)
    config = parse_config(read_mapping(path, ConfigError, "config"), str(path))
    return _resolve_paths(config, path.parent, str(path))


def _resolve_paths(config: EdgeConfig, base: Path, source: str = "<config>") -> EdgeConfig:
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    def fix_tls(mqtt: MqttConfig) -> MqttConfig:
        tls = mqtt.tls
        if tls is not None:
            tls = tls.model_copy(update={"ca": fix(tls.ca), "cert": fix(tls.cert), "key": fix(tls.key)})
        return mqtt.model_copy(update={"tls": tls})

    outbox = config.outbox.model_copy(update={"path": fix(config.outbox.path)})
    mqtt = fix_tls(config.mqtt)
    ha = config.homeassistant
    ha = ha if ha.mqtt is None else ha.model_copy(update={"mqtt": fix_tls(ha.mqtt)})
    cameras = [c if c.shelf is None else
               c.model_copy(update={"shelf": _resolve_shelf(c.shelf, base, f"{source}: cameras[{i}]")})
               for i, c in enumerate(config.cameras)]
    fleet = None if config.fleet is None else config.fleet.resolved(base, outbox.path)
    labels = None if config.labels is None else config.labels.resolved(base, outbox.path)
    return config.model_copy(update={"outbox": outbox, "mqtt": mqtt, "cameras": cameras, "fleet": fleet,
                                     "labels": labels, "homeassistant": ha})


def _resolve_shelf(shelf: CameraShelfConfig, base: Path, where: str) -> CameraShelfConfig:
    """Make the shelf paths absolute (an inline config's gallery is relative to edge.yaml) and read its file now."""
    file = shelf.file if shelf.file is None or shelf.file.is_absolute() else base / shelf.file
    gallery = shelf.gallery
    if gallery is None and shelf.config is not None and shelf.config.gallery is not None:
        gallery = Path(shelf.config.gallery)
    gallery = gallery if gallery is None or gallery.is_absolute() else base / gallery
    fixed = shelf.model_copy(update={"file": file, "gallery": gallery})
    try:
        fixed.resolved()
    except ShelfConfigError as exc:
        raise ConfigError(f"{where}.shelf.file: {exc}") from None
    return fixed
