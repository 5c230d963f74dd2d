"""Collector configuration: YAML validated by pydantic, with defaults that work and environment overrides.

Environment: ``SMARTSTORE_COLLECTOR_TOKEN`` (API bearer token), ``SMARTSTORE_COLLECTOR_DB`` (store URL),
``SMARTSTORE_MQTT_HOST`` / ``SMARTSTORE_MQTT_PORT``. Every error names the file, the field and the value.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from collector.forecast.settings import ForecastConfig
from collector.pricing.settings import PricingConfig
from collector.recommend import DEFAULT_MODEL as DEFAULT_RECOMMENDER_MODEL
from contract.topics import TOPIC_PREFIX
from errors import SmartstoreError


class CollectorConfigError(SmartstoreError):
    """A collector config that cannot be read or does not validate (one line naming file, field and value)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field(TOPIC_PREFIX, min_length=1)
    protocol: Literal["5", "3.1.1"] = Field("5", description="3.1.1 decodes faster; Mosquitto and EMQX "
                                           "accept $share subscriptions from it too")
    group: str = Field("collector", pattern=r"^[A-Za-z0-9_-]+$", description="shared-subscription group")
    shared: bool = Field(True, description="subscribe through $share/<group>/; false for a broker without shared "
                         "subscriptions (one replica only)")
    client_id: str = Field(default_factory=lambda: f"collector-{socket.gethostname()}", min_length=1,
                           description="this replica's session: stable across restarts, unique per replica")
    session_expiry_s: int = Field(600, ge=0, description="how long the broker keeps our session (and our share of "
                                  "the shared subscription) while we are away; `collector retire` ends it at once")
    keepalive_s: int = Field(30, ge=5)
    reconnect_min_s: float = Field(0.2, gt=0, description="broker reconnect backoff, first delay")
    reconnect_max_s: float = Field(2.0, gt=0, description="broker reconnect backoff cap: back within seconds")
    receipts: bool = Field(True, description="publish per-device receipts after each commit (end-to-end "
                           "acknowledgement); false for a second, independent collector group")
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


class IngestConfig(_Section):
    batch_size: int = Field(500, ge=1, le=20000, description="commit after this many messages")
    batch_ms: int = Field(50, ge=1, le=60000, description="or after this many milliseconds, whichever first")
    max_payload_bytes: int = Field(65536, ge=256)
    seq_window: int = Field(1_000_000, ge=1, description="dead-letter an event whose seq is this far beyond the "
                            "device's highest seq (or the floor its edge reports)")
    ts_future_s: float = Field(86400, gt=0, description="dead-letter an event time this far ahead of receipt")
    ts_past_s: float = Field(30 * 86400, gt=0, description="dead-letter an event time this far behind receipt")
    dead_letter_bytes: int = Field(4096, ge=64, le=1048576, description="payload bytes a dead letter keeps")


class RetentionConfig(_Section):
    events_days: float = Field(30, gt=0, description="raw events")
    dead_letters_days: float = Field(30, gt=0)
    rollups_days: float = Field(730, gt=0, description="hourly roll-ups and closed shelf intervals")


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token: str | None = Field(None, min_length=8, description="bearer token; required to serve the API")
    docs: bool = Field(False, description="serve Swagger UI at /docs (loads its assets from a CDN)")
    cert_file: Path | None = Field(None, description="serve HTTPS with this certificate chain (PEM), e.g. for the "
                                   "edges' bundle downloads; with key_file")
    key_file: Path | None = Field(None, description="the private key of cert_file (PEM)")
    bundles_dir: Path | None = Field(None, description="serve this folder's signed model bundles at /bundles/ for "
                                     "the edges to fetch (HTTP Range, so cut downloads resume); off when unset")

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        if self.bundles_dir is not None and not self.bundles_dir.is_dir():
            raise ValueError(f"bundles_dir {self.bundles_dir} is not a folder")
        return self

    def check_tls(self) -> None:
        """:class:`CollectorConfigError` unless ``cert_file`` and ``key_file`` load as a certificate and its key."""
        if self.cert_file is None or self.key_file is None:
            return
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise CollectorConfigError(f"api.cert_file = {str(self.cert_file)!r}, api.key_file = "
                                       f"{str(self.key_file)!r}: cannot load them ({exc})") from None


class RecommenderConfig(_Section):
    model: Path | None = Field(None, description="fitted recommender file (`smartstore recommend fit --out`) whose "
                               "basket and substitute routes the API serves; null: recommender.npz in the working "
                               "directory, served when it exists")

    @property
    def path(self) -> Path:
        """The model file: ``model``, or the default ``recommender.npz`` (where ``recommend fit`` writes)."""
        return self.model if self.model is not None else DEFAULT_RECOMMENDER_MODEL


class RolloutsConfig(_Section):
    enabled: bool = Field(True, description="drive the staged roll-outs in the store (smartstore fleet rollout)")
    tick_s: float = Field(1.0, gt=0, le=60, description="how often each roll-out is advanced")
    lease_s: float = Field(30.0, gt=0, description="a replica that stops driving a roll-out hands it on after this")


class CollectorConfig(_Section):
    store: str = Field("collector.db", description="SQLite file path or postgresql:// URL")
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full", description="full: a commit survives power loss; normal: survives a crash of the process only")
    schema_name: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema")
    mqtt: MqttConfig = Field(default_factory=lambda: MqttConfig.model_validate({}))
    ingest: IngestConfig = Field(default_factory=lambda: IngestConfig.model_validate({}))
    retention: RetentionConfig = Field(default_factory=lambda: RetentionConfig.model_validate({}))
    api: ApiConfig = Field(default_factory=lambda: ApiConfig.model_validate({}))
    recommender: RecommenderConfig = Field(default_factory=lambda: RecommenderConfig.model_validate({}))
    pricing: PricingConfig = Field(default_factory=lambda: PricingConfig.model_validate({}),
                                   description="dynamic prices and their label pushes (docs/pricing.md)")
    rollouts: RolloutsConfig = Field(default_factory=lambda: RolloutsConfig.model_validate({}))
    forecast: ForecastConfig = Field(default_factory=lambda: ForecastConfig.model_validate({}),
                                     description="scheduled forecasts (docs/forecasting.md)")


def _describe(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    value = err.get("input")
    return f"{source}: field {field!r}: {err['msg']} (value {value!r})"


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> CollectorConfig:
    """Read ``path`` (YAML; defaults when ``None``), then apply the environment and ``overrides`` (dotted keys)."""
    raw: dict[str, Any] = {}
    source = str(path) if path else "collector config"
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise CollectorConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise CollectorConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise CollectorConfigError(f"{path}: the top level must be a mapping, not {type(loaded).__name__}")
        raw = loaded or {}
    env = {
        "api.token": os.environ.get("SMARTSTORE_COLLECTOR_TOKEN"),
        "store": os.environ.get("SMARTSTORE_COLLECTOR_DB"),
        "mqtt.host": os.environ.get("SMARTSTORE_MQTT_HOST"),
        "mqtt.port": os.environ.get("SMARTSTORE_MQTT_PORT"),
    }
    for key, value in {**{k: v for k, v in env.items() if v}, **(overrides or {})}.items():
        if value is None:
            continue
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CollectorConfigError(f"{source}: field {part!r} must be a mapping")
        node[leaf] = value
    try:
        return CollectorConfig.model_validate(raw)
    except ValidationError as exc:
        raise CollectorConfigError(_describe(exc, source)) from exc
