"""The shelf config (``smartstore shelf --config``, a camera's ``shelf:``): rows of slots (polygons) with their
planogram SKU, the models, and the thresholds of the slot states and alerts. Errors name the file, field and value."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.analytics.config import NAME_PATTERN
from edge.analytics.slots import SlotMap
from edge.yamlfile import read_mapping
from errors import SmartstoreError


class ShelfConfigError(SmartstoreError, ValueError):
    """A shelf config that cannot be used; the message names the file, field and value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    sku: str | None = None  # planogram: the SKU expected here (None: no expectation)
    polygon: list[tuple[float, float]] = Field(min_length=3)


class RowConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    slots: list[SlotConfig] = Field(min_length=1)


class ShelfConfig(_Strict):
    shelf: str = Field(pattern=NAME_PATTERN)
    rows: list[RowConfig] = Field(min_length=1)
    gallery: str | None = None  # .npz, relative to the config file
    detector: str = "shelf-products"
    embedder: str = "efficientnet-lite0"
    person_detector: str | None = "person-ssdlite"
    engine: str = "auto"  # every model's file: the one engine auto picks for this box, unless named
    precision: str | None = None
    product_score: float = Field(0.35, gt=0, lt=1)
    person_score: float = Field(0.5, gt=0, lt=1)
    empty_fill: float = Field(0.2, ge=0, le=1)  # product coverage below this: empty
    stocked_fill: float = Field(0.4, ge=0, le=1)  # at or above this: not empty (between: ambiguous, timers pause)
    low_fill: float = Field(0.6, ge=0, le=1)  # below this: low
    occluded_cover: float = Field(0.2, gt=0, le=1)  # a person box over this much of a slot: occluded
    out_of_stock_after_s: float = Field(10.0, ge=0)
    restock_after_s: float = Field(3.0, ge=0)
    violation_after_s: float = Field(10.0, ge=0)
    grace_s: float = Field(1.0, ge=0)  # opposite blips shorter than this do not reset a rising alert
    snapshot_every_s: float = Field(60.0, gt=0)
    max_dt_s: float = Field(2.0, gt=0)  # longest frame interval counted (a stalled source does not age alerts)
    cache_iou: float = Field(0.9, gt=0, le=1)  # a product box this close to last frame's reuses its SKU

    @model_validator(mode="after")
    def _check(self) -> ShelfConfig:
        if not self.empty_fill <= self.stocked_fill <= self.low_fill:
            raise ValueError(
                f"need empty_fill <= stocked_fill <= low_fill, got {self.empty_fill}, "
                f"{self.stocked_fill}, {self.low_fill}"
            )
        seen: dict[str, str] = {}
        for row in self.rows:
            for slot in row.slots:
                if slot.name in seen:
                    raise ValueError(
                        f"slot name {slot.name!r} is used twice (rows {seen[slot.name]!r} and {row.name!r})"
                    )
                seen[slot.name] = row.name
        SlotMap(self.slots())  # raises on overlapping slots
        return self

    def slots(self) -> list[tuple[str, SlotConfig]]:
        """``(row name, slot)`` in config order."""
        return [(row.name, slot) for row in self.rows for slot in row.slots]

    def check_skus(self, known: list[str], source: str = "the gallery") -> None:
        """Refuse a planogram naming a SKU the gallery cannot recognise."""
        have = set(known)
        for i, row in enumerate(self.rows):
            for j, slot in enumerate(row.slots):
                if slot.sku is not None and slot.sku not in have:
                    sample = ", ".join(sorted(have)[:8]) + (", ..." if len(have) > 8 else "")
                    raise ShelfConfigError(
                        f"rows[{i}].slots[{j}].sku: unknown SKU {slot.sku!r} (slot {slot.name!r}); "
                        f"{source} has {len(have)} SKUs: {sample}"
                    )


def load_shelf_config(path: str | Path) -> ShelfConfig:
    path = Path(path)
    data = read_mapping(path, ShelfConfigError, "shelf config")
    try:
        return ShelfConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        value = f" (value {err['input']!r})" if where and "input" in err else ""
        raise ShelfConfigError(
            f"{path}: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}{value}"
        ) from None
