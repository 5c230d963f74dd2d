"""The ``LabelGateway`` interface, what a label shows (:class:`LabelContent`), and the registry of gateway types by
type key (the Frigate detector-plugin pattern, as :mod:`edge.engines.base`): each type has its own small pydantic
config, checked when ``edge.yaml`` loads, and its module is imported on first use.

A gateway pushes one label at a time and answers with an :class:`Ack` or raises :class:`LabelError` (one line,
naming the label and what went wrong; ``retry`` says whether trying again may help). :func:`push_with_retry` is the
one retry loop for every gateway (backoff from :mod:`common.retry`).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.plugins import Plugins
from common.retry import Retry
from errors import SmartstoreError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger("smartstore.labels")


class LabelError(SmartstoreError):
    """A label that was not updated; ``retry``: a timeout, a busy or absent gateway (not a tag it does not know)."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class LabelContent:
    """What one shelf label is to show: the price fields, and the image rendered from them at the tag's size."""

    label: str  # the tag: its MAC on an OpenEPaperLink access point, its id on a serial gateway
    sku: str
    price: float
    currency: str
    was: float | None = None
    promo: str | None = None
    image: Image | None = field(default=None, compare=False)  # hardware.labels.render.render_label


@dataclass(frozen=True)
class Ack:
    """The gateway took the label: ``detail`` is what it said (one line), ``attempts`` how many pushes it took."""

    label: str
    detail: str
    attempts: int = 1


class GatewayConfig(BaseModel):
    """Options every gateway has; each type adds its own (``OpenEPaperLinkConfig``, ``SerialGatewayConfig``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    labels: list[str] = ["*"]  # the labels this gateway serves (fnmatch patterns); the first match wins
    width: int = Field(default=296, ge=32, le=2048)  # the tags' size in pixels (296x128: the 2.9" tag)
    height: int = Field(default=128, ge=32, le=2048)
    timeout_s: float = Field(default=3.0, gt=0)  # one request or reply
    attempts: int = Field(default=3, ge=1, le=20)  # pushes of one label before it fails
    retry_min_s: float = Field(default=0.2, gt=0)  # backoff between attempts (jittered, doubling)
    retry_max_s: float = Field(default=2.0, gt=0)


class LabelGateway(ABC):
    """One label gateway (an access point, a serial radio): :meth:`push` one label, :meth:`close` at the end."""

    name: ClassVar[str]
    Config: ClassVar[type[GatewayConfig]] = GatewayConfig

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.lock = threading.Lock()  # one push at a time per gateway

    @abstractmethod
    def push(self, content: LabelContent) -> str:
        """Send ``content`` once; what the gateway answered (one line), or :class:`LabelError`."""

    @abstractmethod
    def probe(self) -> str:
        """Reach the gateway without changing a label (``smartstore edge check``): what it said, or
        :class:`LabelError`."""

    def close(self) -> None:  # noqa: B027 - gateways without a connection have nothing to close
        """Release the connection, if any."""

    def describe(self) -> str:
        return self.name


#: gateway type -> "module:Class", imported on first use
GATEWAYS: Plugins[LabelGateway] = Plugins("label gateway type", ValueError, {
    "openepaperlink": "hardware.labels.openepaperlink:OpenEPaperLinkGateway",
    "serial": "hardware.labels.serial_gateway:SerialLabelGateway",
})


def gateway_types() -> list[str]:
    return GATEWAYS.names()


def register(name: str, target: str) -> None:
    """Add a gateway type (``"module:Class"``), e.g. a vendor's ESL base station."""
    GATEWAYS.register(name, target)


def gateway_class(name: str) -> type[LabelGateway]:
    return GATEWAYS.load(name)


def parse_gateway_config(options: Any) -> GatewayConfig:
    """``options`` (``{type: ..., ...}``) checked against its type's config; ``ValueError`` naming type and field."""
    if not isinstance(options, dict) or not isinstance(options.get("type"), str):
        raise ValueError(f"a gateway needs a type (one of: {', '.join(GATEWAYS.names())}), got {options!r}"[:200])
    cls = gateway_class(options["type"])
    try:
        return cls.Config.model_validate(options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        value = "" if err["type"] == "missing" else f" = {err.get('input')!r}"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{options['type']} gateway: {where}{value}: {message}") from None


def create(config: GatewayConfig) -> LabelGateway:
    return gateway_class(config.type)(config)


def push_with_retry(gateway: LabelGateway, content: LabelContent, sleep: Any = time.sleep) -> Ack:
    """Push ``content`` up to ``config.attempts`` times with backoff; the :class:`Ack`, or the last
    :class:`LabelError` (at once for one that a retry cannot fix)."""
    cfg = gateway.config
    retry = Retry(cfg.retry_min_s, cfg.retry_max_s)
    with gateway.lock:
        for attempt in range(1, cfg.attempts + 1):
            try:
                return Ack(content.label, gateway.push(content), attempt)
            except LabelError as exc:
                if not exc.retry or attempt == cfg.attempts:
                    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise LabelError(f"{exc}{suffix}", exc.retry) from None
                delay = retry.next_delay()
                log.warning("labels: %s: %s; retrying in %.1f s (attempt %d of %d)", gateway.describe(), exc,
                            delay, attempt, cfg.attempts)
                sleep(delay)
    raise AssertionError("unreachable: attempts >= 1")
