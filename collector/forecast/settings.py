"""The collector's ``forecast:`` config section: the schedule that recomputes the stored forecasts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="recompute stale forecasts on a timer inside `collector run`")
    every_s: float = Field(3600, ge=60, description="a store's forecasts older than this are recomputed")
    check_s: float = Field(60, gt=0, le=3600, description="how often the scheduler looks for stale forecasts")
    footfall_horizon_h: int = Field(168, ge=1, le=24 * 7 * 8, description="hours of footfall forecast")
    demand_horizon_d: int = Field(14, ge=1, le=90, description="days of demand forecast per SKU (>= the longest "
                                  "replenishment lead time)")
    per_camera: bool = Field(True, description="also forecast footfall per camera, not only per store")
    anchor: Literal["clock", "data"] = Field(
        "clock", description="clock: forecasts start at the current hour or day (buckets without records since the "
        "last one count as zero); data: they start after the last stored record (imported history)")
    models: str | None = Field(None, description="comma list of candidates for both kinds (default: the "
                               "frequency's defaults, docs/forecasting.md)")
    holidays: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(/[A-Za-z0-9-]{1,8})?$",
                                 description="public-holiday calendar COUNTRY[/SUBDIV] for the gbm model")


class ForecastConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: ScheduleConfig = Field(default_factory=lambda: ScheduleConfig.model_validate({}))
