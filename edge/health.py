"""The numbers in ``device.health`` events: per-camera frame counts and latencies, and this process's CPU use."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CameraStats:
    frames: int = 0
    window_frames: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=300))


def rate_fields(stats: Sequence[CameraStats], window_s: float) -> dict[str, Any]:
    """``fps`` over the window and the median capture-to-result latency (``inference_ms``) of these cameras."""
    latencies = [x for s in stats for x in s.latencies_ms]
    return {
        "fps": round(sum(s.window_frames for s in stats) / window_s, 2),
        "inference_ms": round(statistics.median(latencies), 2) if latencies else None,
    }


class CpuMeter:
    """This process's CPU use between calls, in percent of one core."""

    def __init__(self) -> None:
        self._mark = (time.process_time(), time.monotonic())

    def percent(self) -> float:
        cpu, wall = time.process_time(), time.monotonic()
        last_cpu, last_wall = self._mark
        self._mark = (cpu, wall)
        return round(100 * (cpu - last_cpu) / max(wall - last_wall, 1e-6), 1)
