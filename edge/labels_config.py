"""The ``labels:`` section of ``edge.yaml``: the shelf-label gateways this box drives (docs/labels.md).

Absent (the default): ``set_prices`` commands fail with "no labels: section". Each gateway is ``{type: ..., ...}``
with its type's options (:mod:`hardware.labels`), checked when the file loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hardware.labels.base import GatewayConfig, parse_gateway_config


class LabelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gateways: list[GatewayConfig] = Field(min_length=1)  # a label goes to the first whose `labels` patterns match
    folder: Path | None = None  # rendered images and applied price ids; default: <outbox dir>/labels
    keep_images: int = Field(default=10000, ge=0)  # rendered PNGs kept for audit (the oldest are deleted)

    @field_validator("gateways", mode="before")
    @classmethod
    def _typed(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        typed = []
        for i, item in enumerate(value):
            try:
                typed.append(item if isinstance(item, GatewayConfig) else parse_gateway_config(item))
            except ValueError as exc:
                raise ValueError(f"gateways[{i}]: {exc}") from None
        return typed

    def resolved(self, base: Path, outbox: Path) -> LabelsConfig:
        """``folder`` made absolute against ``base`` (the config's folder); default ``<outbox dir>/labels``."""
        folder = self.folder or outbox.parent / "labels"
        return self.model_copy(update={"folder": folder if folder.is_absolute() else base / folder})
