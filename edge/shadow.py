"""Shadow mode: a candidate person detector beside the live one on a camera's frames, and how much they agree.

Every ``every_n``-th frame of the camera the candidate detects on the same image the live detector saw; the two
box sets are matched one-to-one at ``iou`` (:func:`edge.vision.detections.matched_ious`). Per ``interval_s`` of
frame time one ``model.shadow`` record sums it up: the share of live boxes the candidate finds and of candidate
boxes the live model finds, the mean per-frame count difference, and (``count``) the line crossings of the
candidate's own tracker and lines (fed every ``every_n``-th frame) beside the live counter's. The candidate's
results are never published as facts: only the ``model.shadow`` record leaves this module.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contract.events import ModelRef, Record, format_ts
from edge.config import CameraConfig, ConfigError, ShadowConfig
from edge.vision.detections import Detections, matched_ious

if TYPE_CHECKING:
    from edge.analytics.counting import PeopleCounter
    from edge.analytics.lines import Crossing
    from edge.pipeline import FrameDetector, Image

log = logging.getLogger("smartstore.shadow")
KIND = "model.shadow"


@dataclass
class Tally:
    """What one interval has seen so far."""

    start: float | None = None
    frames: int = 0
    live_boxes: int = 0
    candidate_boxes: int = 0
    matched: int = 0
    count_diff: int = 0  # sum over frames of candidate minus live boxes
    count_abs_diff: int = 0
    candidate_ms: list[float] = field(default_factory=list)
    crossings: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"live": {"in": 0, "out": 0}, "candidate": {"in": 0, "out": 0}})


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class ShadowRunner:
    """One camera's shadow: :meth:`observe` every processed frame, :meth:`flush` at the end."""

    def __init__(self, config: ShadowConfig, detector: FrameDetector, candidate: ModelRef | None,
                 live: ModelRef | None, counter: PeopleCounter | None = None) -> None:
        self.config, self.detector, self.counter = config, detector, counter
        self.candidate, self.live = candidate, live
        self._seen = 0  # frames of the camera since start (the candidate runs on every every_n-th)
        self._tally = Tally()

    def observe(self, image: Image, ts: float, live: Detections, crossings: list[Crossing]) -> list[Record]:
        """The live model's ``live`` boxes and ``crossings`` on this frame; the candidate runs when it is due.
        Returns the ``model.shadow`` record of an interval that ended before ``ts``, if any."""
        ended = self._tally.start is not None and ts >= self._tally.start + self.config.interval_s
        out = self._close(ts) if ended else []
        tally = self._tally
        if tally.start is None:
            tally.start = ts
        self._seen += 1
        if self.counter is not None:  # the live counter's crossings of every frame in the interval
            for crossing in crossings:
                tally.crossings["live"][crossing.direction] += 1
        if (self._seen - 1) % self.config.every_n:
            return out
        started = time.perf_counter()
        found = self.detector(image)
        tally.candidate_ms.append((time.perf_counter() - started) * 1000)
        matched = len(matched_ious(live.xyxy, found.xyxy, self.config.iou))
        tally.frames += 1
        tally.live_boxes += len(live)
        tally.candidate_boxes += len(found)
        tally.matched += matched
        tally.count_diff += len(found) - len(live)
        tally.count_abs_diff += abs(len(found) - len(live))
        if self.counter is not None:  # the candidate's own tracker and lines, on the frames it ran on
            for crossing in self.counter.update(found, ts).crossings:
                tally.crossings["candidate"][crossing.direction] += 1
        return out

    def flush(self, ts: float) -> list[Record]:
        """The record of the interval in progress (shutdown, reload), if it compared any frame."""
        return self._close(ts)

    def _close(self, end: float) -> list[Record]:
        tally, self._tally = self._tally, Tally()
        if tally.start is None or not tally.frames:
            return []
        return [Record(KIND, self.data(tally, end), end, model=self.candidate)]

    def data(self, tally: Tally, end: float) -> dict[str, Any]:
        """``data`` of a ``model.shadow`` event (``contract/schemas/model.shadow.schema.json``)."""
        assert tally.start is not None
        c = self.config
        data: dict[str, Any] = {
            "candidate": None if self.candidate is None else self.candidate.to_dict(),
            "live": None if self.live is None else self.live.to_dict(),
            "start": format_ts_s(tally.start), "end": format_ts_s(end), "interval_s": c.interval_s,
            "every_n": c.every_n, "iou": c.iou, "frames": tally.frames,
            "live_boxes": tally.live_boxes, "candidate_boxes": tally.candidate_boxes, "matched": tally.matched,
            "live_found": _share(tally.matched, tally.live_boxes),
            "candidate_found": _share(tally.matched, tally.candidate_boxes),
            "count_diff_mean": round(tally.count_diff / tally.frames, 4),
            "count_abs_diff_mean": round(tally.count_abs_diff / tally.frames, 4),
            "candidate_ms": round(statistics.median(tally.candidate_ms), 2),
        }
        if self.counter is not None:
            data["crossings"] = tally.crossings
        return data


def format_ts_s(ts: float) -> str:
    """Unix seconds as the contract's RFC 3339 time."""
    return format_ts(datetime.fromtimestamp(ts, UTC))


def load_shadow(camera: CameraConfig, index: int, live: ModelRef | None, live_confidence: float,
                intervals_s: list[int], source: str = "<config>") -> ShadowRunner:
    """The shadow of ``camera`` (``cameras[index].shadow``): the candidate loaded now (and compiled), its own
    counter on the camera's lines when ``count``. A candidate that cannot load, or has no ``person`` label, is a
    :class:`ConfigError` naming ``source``, the field and its value."""
    from edge.analytics.counting import PeopleCounter
    from edge.detector import Detector
    from edge.engines.base import EngineError
    from edge.models import Manifest, ModelError

    config = camera.shadow
    assert config is not None
    try:
        person = Manifest.load(config.model).class_id("person")
        detector = Detector.from_manifest(
            config.model, engine=config.engine, precision=None if config.precision == "auto" else config.precision,
            device=config.device, conf=live_confidence if config.confidence is None else config.confidence,
            classes=[person], **{"threads": 1, **config.options})  # one thread: it must not starve the live model
    except (ModelError, EngineError) as exc:
        raise ConfigError(f"{source}: cameras[{index}].shadow: model={config.model!r} (engine={config.engine!r}, "
                          f"precision={config.precision!r}): {exc}") from None
    counter = None
    if config.count and camera.lines:
        counting = camera.counting(intervals_s).model_copy(update={"zones": []})
        counter = PeopleCounter(counting, fps=(camera.fps or 15.0) / config.every_n)
    log.info("shadow on camera %s: %s beside %s", camera.id, detector.ref.name, live and live.name,
             extra={"candidate": detector.ref.to_dict(), "every_n": config.every_n, "engine": detector.file.engine,
                    "precision": detector.file.precision})
    return ShadowRunner(config, detector, detector.ref, live, counter)

