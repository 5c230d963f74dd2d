"""What the edge service runs on: the loaded person detector (:func:`load_pipeline`) and the types it holds its
collaborators by (the detector, shelf pipelines, the sensor hub), so mypy checks the wiring in ``edge.service``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from contract.events import ModelRef, Record
from edge.config import ConfigError, EdgeConfig

if TYPE_CHECKING:
    from edge.analytics.shelf import ShelfResult
    from edge.vision.detections import Detections

T = TypeVar("T")
Image = npt.NDArray[Any]  # HxWx3 uint8 BGR


class FrameDetector(Protocol):
    """Detections per frame, one at a time or pipelined in input order (:class:`edge.detector.Detector`)."""

    def __call__(self, frame: Image, /) -> Detections: ...

    def stream(self, frames: Iterable[tuple[T, Image]], /) -> Iterator[tuple[T, Detections]]: ...


class ShelfAnalyser(Protocol):
    """Shelf analytics of one frame (:class:`edge.analytics.shelf.ShelfPipeline`)."""

    def __call__(self, image: Image, ts: float, /, persons: Detections | None = None) -> ShelfResult: ...


class Sensors(Protocol):
    """The serial sensors the main loop polls (:class:`edge.sensors.SensorHub`)."""

    def drain(self, now: float, /) -> list[Record]: ...

    def camera_events(self, events: Iterable[Record], /) -> list[Record]: ...

    def stats(self) -> dict[str, dict[str, int]]: ...

    def entered(self) -> int: ...

    def stop(self) -> None: ...


@dataclass
class Pipeline:
    """The loaded detector, what it runs on, and the model the events it feeds carry."""

    detector: FrameDetector
    engine: str
    precision: str
    device: str
    model: ModelRef | None = None


def load_pipeline(config: EdgeConfig, source: str = "<config>") -> Pipeline:
    """Load the person detector named in ``config.model``: the file ``engine: auto`` picks for this box unless the
    config names an engine or precision (:func:`edge.models.choose_file`), tiled when ``model.tiles`` says so
    (several requests per frame, so in flight together as for several cameras). A model that cannot load is a
    :class:`ConfigError` naming ``source`` (the config file), the field and its value."""
    from edge.detector import Detector
    from edge.engines.base import EngineError
    from edge.models import Manifest, ModelError

    model = config.model
    try:
        manifest = Manifest.load(model.name)
    except ModelError as exc:
        raise ConfigError(f"{source}: model.name={model.name!r}: {exc}") from None
    try:
        detector = Detector.from_manifest(
            model.name, engine=model.engine, precision=None if model.precision == "auto" else model.precision,
            device=model.device, conf=model.confidence, classes=[manifest.class_id("person")], tiling=model.tiles,
            throughput=len(config.cameras) > 1 or model.tiles is not None,  # several requests in flight
            **model.options)
        detector(np.zeros((manifest.input.height, manifest.input.width, 3), np.uint8))  # compile now, not frame 1
    except (ModelError, EngineError) as exc:
        raise ConfigError(f"{source}: model (engine={model.engine!r}, precision={model.precision!r}, "
                          f"device={model.device!r}): {exc}") from None
    return Pipeline(detector, detector.file.engine, detector.file.precision, detector.device, detector.ref)
