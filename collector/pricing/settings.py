"""The ``pricing:`` section of the collector config (``collector.config.CollectorConfig.pricing``).

Defaults that work: prices wait for a person (``auto_approve: false``), markdowns of 20% from three days before
expiry and 50% on the last day, demand bounds of +-10%, a substitute promotion of 10%, at most 30% change per day,
and no label gateway (prices are kept and audited, nothing is pushed until ``gateways`` names a device).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarkdownStep(_Section):
    days: float = Field(ge=0, description="applies when the product expires within this many days")
    percent: float = Field(gt=0, lt=100, description="percent off the base price")


class DemandConfig(_Section):
    enabled: bool = True
    horizon_days: int = Field(7, ge=1, le=56, description="forecast this many days of sales per SKU")
    sensitivity: float = Field(0.5, ge=0, le=5, description="price change per unit of relative demand change")
    max_up_percent: float = Field(10, ge=0, le=100, description="upper bound: base + this percent")
    max_down_percent: float = Field(10, ge=0, lt=100, description="lower bound: base - this percent")
    dead_band_percent: float = Field(5, ge=0, le=100, description="demand changes smaller than this keep the base")
    models: str | None = Field("seasonal_naive,seasonal_mean,ets,theta", description="the forecaster's candidate "
                               "models (comma list; null: the forecaster's daily defaults, slower)")


class PushConfig(_Section):
    retry_min_s: float = Field(2.0, gt=0, description="first re-send of an unacknowledged set_prices command")
    retry_max_s: float = Field(60.0, gt=0, description="re-send backoff cap (common.retry)")
    expiry_s: float = Field(6 * 3600, gt=0, description="a push unacknowledged this long fails (reason expired)")
    poll_s: float = Field(0.5, gt=0, le=60, description="how often the pusher looks for approved prices")
    max_labels: int = Field(50, ge=1, le=1000, description="labels per set_prices command")


class PricingConfig(_Section):
    auto_approve: bool = Field(False, description="true: evaluated prices are approved at once; false: a person "
                               "approves or rejects each (smartstore pricing approve, POST .../approve)")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code for price-list rows without one")
    markdown: list[MarkdownStep] = Field(default_factory=lambda: [MarkdownStep(days=3, percent=20),
                                                                  MarkdownStep(days=1, percent=50)])
    demand: DemandConfig = Field(default_factory=lambda: DemandConfig.model_validate({}))
    substitute_percent: float = Field(10, ge=0, lt=100, description="promotion on the substitutes of an "
                                      "out-of-stock SKU (0: off)")
    substitutes_k: int = Field(3, ge=1, le=50, description="how many substitutes of each out-of-stock SKU")
    max_change_percent_per_day: float = Field(30, gt=0, le=100, description="against the price of 24 h before")
    round_to: float = Field(0.01, gt=0, description="prices are rounded to a multiple of this")
    gateways: dict[str, str] = Field(default_factory=dict, description="store id -> the device id of its label "
                                     "gateway (the edge box that runs the set_prices handler)")
    push: PushConfig = Field(default_factory=lambda: PushConfig.model_validate({}))

    @model_validator(mode="after")
    def _check(self) -> PricingConfig:
        import re

        for store, device in self.gateways.items():
            if not re.match(NAME, store) or not re.match(NAME, device):
                raise ValueError(f"gateways: {store!r}: {device!r} is not a store id and a device id")
        if self.push.retry_max_s < self.push.retry_min_s:
            raise ValueError("push.retry_max_s must not be below push.retry_min_s")
        return self
