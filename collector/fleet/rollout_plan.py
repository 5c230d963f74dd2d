"""What a roll-out is told (:class:`RolloutSettings`) and which devices go in which wave (:func:`plan_waves`).

Wave 0 is the canary; each later wave brings the share of devices that have the new version up to its
percentage (``--waves 25%,50%,100%``: a quarter, then half, then all). Devices are ordered by a hash of the
roll-out's name and version and the device, so a canary spreads over stores and the same roll-out plans the
same waves again.
"""

from __future__ import annotations

import hashlib
import math
import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from errors import SmartstoreError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class RolloutError(SmartstoreError):
    """A roll-out that cannot start (bad option, no devices, unreadable manifest); one line."""


class RolloutSettings(BaseModel):
    """How a roll-out proceeds and what counts as a regression (stored with it as JSON)."""

    model_config = ConfigDict(extra="forbid")

    canary: float = Field(0.05, gt=0, le=1, description="share of the devices in the canary wave")
    waves: list[float] = Field(default_factory=lambda: [0.25, 0.5, 1.0], description="cumulative shares after it")
    soak_s: float = Field(60.0, ge=0, description="how long each wave runs healthy before the next starts")
    max_fps_drop: float = Field(0.2, ge=0, lt=1, description="regression: fps below (1 - this) x its fps before")
    detection_band: tuple[float, float] = Field((0.5, 2.0), description="regression: a wave's detection rate "
                                                "outside [low, high] x its rate before")
    min_detections: int = Field(20, ge=1, description="the band is judged only when the wave's devices made at "
                                "least this many detection events before the roll-out")
    max_restarts: int = Field(1, ge=0, description="regression (crash loop): more restarts than this since applied")
    baseline_s: float = Field(300.0, gt=0, description="the health window before a device's command: its baseline")
    min_readings: int = Field(2, ge=1, description="health readings after applied before fps is judged")
    health_timeout_s: float = Field(60.0, gt=0, description="regression (pipeline down): no health for this long")
    apply_timeout_s: float = Field(600.0, gt=0, description="failed: no applied reply nor new version in health "
                                   "this long after sending (also the commands' expiry)")

    @model_validator(mode="after")
    def _check(self) -> RolloutSettings:
        if not self.waves or any(not 0 < w <= 1 for w in self.waves):
            raise ValueError("waves must be shares in (0, 100%]")
        if any(b <= a for a, b in zip([self.canary, *self.waves], self.waves, strict=False)):
            raise ValueError("the canary and the waves must grow, each larger than the one before")
        if self.waves[-1] != 1.0:
            raise ValueError("the last wave must be 100% (every device)")
        low, high = self.detection_band
        if not 0 <= low < 1 < high:
            raise ValueError("detection_band must be LOW,HIGH with LOW < 1 < HIGH")
        return self


def share(text: str, what: str) -> float:
    """``5%`` or ``0.05`` as 0.05; RolloutError naming ``what`` otherwise."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise RolloutError(f"{what}: expected a share like 5% or 0.05, got {text!r}") from None
    if not 0 < value <= 1:
        raise RolloutError(f"{what}: {text!r} is not within (0, 100%]")
    return value


def duration(text: str, what: str) -> float:
    """``60s``, ``5m``, ``1h``, ``500ms`` or plain seconds; RolloutError naming ``what`` otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise RolloutError(f"{what}: expected a duration like 60s, 5m or 1h, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def band(text: str, what: str) -> tuple[float, float]:
    """``0.5,2.0`` as ``(0.5, 2.0)``."""
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise RolloutError(f"{what}: expected LOW,HIGH like 0.5,2.0, got {text!r}") from None
    return low, high


def plan_waves(devices: list[tuple[str, str]], settings: RolloutSettings, salt: str) -> list[tuple[str, str, int]]:
    """``(store, device, wave)`` for every device; wave 0 is the canary (at least one device), no wave empty."""
    ordered = sorted(set(devices), key=lambda d: hashlib.sha256(f"{salt}/{d[0]}/{d[1]}".encode()).digest())
    n = len(ordered)
    planned: list[tuple[str, str, int]] = []
    wave = 0
    for cumulative in [settings.canary, *settings.waves]:
        upto = min(n, max(len(planned) + 1, math.ceil(cumulative * n - 1e-9)))
        if upto > len(planned):
            planned += [(s, d, wave) for s, d in ordered[len(planned):upto]]
            wave += 1
    return planned
