"""Whether a device (or a wave) that got a new version regressed, from its health readings (``docs/fleet.md``).

A device regresses when, since it applied the new version (counted from the first health naming it, when health
names versions): it restarted more than ``max_restarts`` times (a crash loop: uptime went back, or a ``startup``
health), sent no health for ``health_timeout_s`` or reported 0 fps (pipeline down), reports another version than
the roll-out's (or none names it ``health_timeout_s`` after applying), or its mean fps (from its second reading on:
the first one's window spans the switch) fell more than ``max_fps_drop`` below its mean before the roll-out. A
wave regresses when its detection rate (detection events per second over its devices) leaves ``detection_band``
x its rate before; judged only with at least ``min_detections`` events before.
"""

from __future__ import annotations

from itertools import pairwise
from statistics import fmean
from typing import Any

from collector.fleet.health_watch import Reading
from collector.fleet.rollout_plan import RolloutSettings


def baseline(readings: list[Reading], detections: int, start: float, end: float) -> dict[str, Any] | None:
    """A device's health before its command (readings stored in ``[start, end)``); None without any fps."""
    fps = [r.fps for r in readings if r.fps is not None]
    if not fps:
        return None
    last = readings[-1]
    return {"fps": round(fmean(fps), 3), "readings": len(fps), "version": last.version, "sha256": last.sha256,
            "detections": detections, "window_s": round(end - max(start, readings[0].stored), 3)}


def restarts(readings: list[Reading]) -> int:
    """Restarts among consecutive readings: an uptime that went back, or a ``startup`` health."""
    count = 0
    for before, after in pairwise(readings):
        back = after.uptime_s is not None and before.uptime_s is not None and after.uptime_s < before.uptime_s
        count += back or after.reason == "startup"
    return count


def since_switch(readings: list[Reading], version: int | None) -> list[Reading] | None:
    """The readings from the first one naming ``version`` on (health sent before the switch may be stored after
    the reply); all of them when health names no version; None while none names it yet."""
    if version is None or all(r.version is None for r in readings):
        return readings
    first = next((i for i, r in enumerate(readings) if r.version == version), None)
    return None if first is None else readings[first:]


def regression(readings: list[Reading], base: dict[str, Any] | None, applied: float, version: int | None,
               settings: RolloutSettings, now: float) -> str | None:
    """Why a device that applied at ``applied`` regressed (``readings``: its readings since), or None."""
    switched = since_switch(readings, version)
    if switched is None:
        if now - applied > settings.health_timeout_s:
            return f"runs version {readings[-1].version}, not {version}, {now - applied:.0f} s after applying"
        switched = []
    restarted = restarts(switched)
    if restarted > settings.max_restarts:
        return f"crash loop: {restarted} restarts since applied"
    last_seen = readings[-1].stored if readings else applied
    if now - last_seen > settings.health_timeout_s:
        return f"pipeline down: no health for {now - last_seen:.0f} s"
    if switched and switched[-1].fps == 0:
        return "pipeline down: 0 fps"
    if version is not None and switched and switched[-1].version not in (None, version):
        return f"runs version {switched[-1].version}, not {version}"
    judged = [r.fps for r in switched[1:] if r.fps is not None]
    if base and base["fps"] > 0 and len(judged) >= settings.min_readings:
        after = fmean(judged)
        if after < (1 - settings.max_fps_drop) * base["fps"]:
            return (f"fps {after:.2f} vs {base['fps']:.2f} before ({after / base['fps'] - 1:+.0%}, limit "
                    f"-{settings.max_fps_drop:.0%})")
    return None


def healthy(readings: list[Reading], applied: float, version: int | None, settings: RolloutSettings,
            now: float) -> bool:
    """Soaked: applied ``soak_s`` ago with enough readings on the new version (and no :func:`regression`)."""
    switched = since_switch(readings, version)
    return now - applied >= settings.soak_s and switched is not None and len(switched) > settings.min_readings


def detection_band(devices: list[dict[str, Any]], after: dict[tuple[str, str], int], settings: RolloutSettings,
                   now: float) -> str | None:
    """Why a wave's detection rate left the band (``after``: detection events since each device applied), or
    None (also when too few detections before to judge)."""
    bases = [(d, d["baseline"]) for d in devices if d["baseline"] and d["applied"] is not None]
    before_n = sum(b["detections"] for _, b in bases)
    before_s = sum(b["window_s"] for _, b in bases)
    if before_n < settings.min_detections or before_s <= 0:
        return None
    after_n = sum(after.get((d["store"], d["device"]), 0) for d, _ in bases)
    after_s = sum(now - d["applied"] for d, _ in bases)
    if after_s <= 0:
        return None
    ratio = (after_n / after_s) / (before_n / before_s)
    low, high = settings.detection_band
    if not low <= ratio <= high:
        return f"detection rate x{ratio:.2f} of before, outside the band {low:g}..{high:g}"
    return None
