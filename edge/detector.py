"""``Detector``: manifest + engine + preprocess + decode -> :class:`Detections` in frame pixels. The vision entry point.

    detector = Detector.from_manifest("person-ssdlite")  # the file engine: auto gives this box (or engine=, precision=)
    dets = detector(frame_bgr)                       # one frame, synchronous (lowest latency)
    for tag, dets in detector.stream(tagged_frames): # (tag, frame) pairs, e.g. (camera id, frame): pipelined,
        ...                                          # several requests in flight, results in input order

``tiling=Tiling(...)`` runs overlapping tiles (plus the whole frame) and merges them with NMS; ``classes`` keeps
only some class ids (e.g. ``[detector.class_id("person")]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy.typing as npt

from contract.events import ModelRef
from edge.bundles import deployed_version
from edge.engines.base import Engine, EngineError, Tensor, create, engine_class
from edge.models import Manifest, ModelError, ModelFile, choose_file
from edge.vision.decoders import SSD_HEAD, DecodeParams, SsdHead, decode_ssd, decode_ssd_raw, decode_yolo
from edge.vision.detections import Detections
from edge.vision.preprocess import Transform, fit, to_tensor
from edge.vision.tiling import Tiling, Window, drop_cut, merge, windows

T = TypeVar("T")
Frame = npt.NDArray[Any]  # HxWx3 uint8 BGR


def _ssd_head(manifest: Manifest, item: ModelFile) -> SsdHead:
    """The anchors and NMS settings of an ``ssd-raw`` file (its extra file ``ssd-head.json``)."""
    heads = [rel for rel in item.extra_files if rel.rsplit("/", 1)[-1] == SSD_HEAD]
    if not heads:
        raise ModelError(f"model {manifest.name!r}: the ssd-raw file {item.path} lists no {SSD_HEAD} in extra_files")
    try:
        return SsdHead.load(manifest.path_of(heads[0]))
    except ValueError as exc:
        raise ModelError(f"model {manifest.name!r}: {exc}") from None


class Detector:
    """Detects objects in BGR frames with one model file on one engine."""

    def __init__(self, manifest: Manifest, item: ModelFile, engine: Engine, params: DecodeParams | None = None,
                 tiling: Tiling | None = None, fuse_preprocess: bool = True) -> None:
        self.architecture = manifest.architecture_of(item)
        if manifest.task != "detect" or self.architecture not in ("yolo", "ssd", "ssd-raw"):
            raise ModelError(f"model {manifest.name!r} is a {manifest.task}/{self.architecture} model, "
                             "not a yolo or ssd detector")
        self._head = _ssd_head(manifest, item) if self.architecture == "ssd-raw" else None
        self.manifest = manifest
        self.file = item
        self.engine = engine
        self.params = params or DecodeParams()
        self.tiling = tiling
        self.device = "CPU"  # the accelerator it runs on (from_manifest records the chosen one)
        # what the events it feeds carry: a deployed bundle's signed version, else the manifest's
        self.ref = ModelRef(manifest.name, deployed_version(manifest.root) or manifest.version, item.sha256)
        spec = manifest.input
        self._fused = fuse_preprocess and engine.fuse_preprocess(
            spec.width, spec.height, spec.color == "RGB", spec.mean, spec.std, spec.layout)

    @classmethod
    def from_manifest(cls, name: str, engine: str = "auto", precision: str | None = None,
                      device: str | None = None, conf: float = 0.25, iou: float = 0.45,
                      classes: Sequence[int] | None = None, tiling: Tiling | None = None,
                      verify: bool = True, throughput: bool = False, **engine_options: Any) -> Detector:
        """Load model ``name`` (a name under ``models/``, a folder or a ``model.yaml``).

        The file is :func:`edge.models.choose_file`'s: ``engine="auto"`` and no ``precision`` give the one
        ``engine: auto`` picks for this box. ``throughput`` keeps several frames in flight (OpenVINO's THROUGHPUT
        hint) instead of single-frame latency. ``device`` and ``engine_options`` (e.g. ``threads=2``) go to the
        engine's config. ``verify`` checks the files' sha256 first (:class:`ModelError` on mismatch).
        """
        if engine != "auto":
            engine_class(engine)  # an unknown engine name is the error to report, before any file lookup
        manifest = Manifest.load(name)
        item, implied = choose_file(manifest, engine, precision, device)
        if verify:
            manifest.verify_file(item)
        engine_options = implied | engine_options
        if throughput and item.engine == "openvino":
            engine_options.setdefault("hint", "THROUGHPUT")
        runtime = create(item.engine, manifest.path_of(item), **engine_options)
        params = DecodeParams(conf=conf, iou=iou, classes=tuple(classes) if classes is not None else None)
        detector = cls(manifest, item, runtime, params, tiling)
        detector.device = engine_options.get("device", "CPU")
        return detector

    @property
    def labels(self) -> list[str]:
        return self.manifest.labels

    def class_id(self, label: str) -> int:
        return self.manifest.class_id(label)

    def prepare(self, frame: Frame) -> list[tuple[Tensor, Transform, Window]]:
        """Frame -> model tensors with their box transforms and frame windows (one per tile; one without tiling)."""
        if frame is None or frame.ndim != 3 or frame.shape[2] != 3:
            raise EngineError(f"expected a BGR frame HxWx3, got {None if frame is None else frame.shape}")
        h, w = frame.shape[:2]
        spec = self.manifest.input
        crops = [(0, 0, w, h)] if self.tiling is None else windows(w, h, self.tiling)
        out = []
        for x0, y0, x1, y1 in crops:
            image, transform = fit(frame[y0:y1, x0:x1], spec)
            tensor = image[None] if self._fused else to_tensor(image, spec)
            out.append((tensor, Transform(transform.scale_x, transform.scale_y, transform.pad_x, transform.pad_y,
                                          w, h, float(x0), float(y0)), (x0, y0, x1, y1)))
        return out

    def decode(self, outputs: list[Tensor], transform: Transform, window: Window | None = None) -> Detections:
        """Raw outputs of one request -> Detections in frame pixels (for a tile ``window``: minus boxes it cut)."""
        spec = self.manifest.input
        if self.architecture == "yolo":
            dets = decode_yolo(outputs[0], spec.width, spec.height, self.params, self.file.boxes == "normalized")
        elif self._head is not None:
            dets = decode_ssd_raw(outputs[0], self._head, spec.width, spec.height, self.params)
        else:
            dets = decode_ssd(dict(zip(self.engine.output_names, outputs, strict=True)), spec.width, spec.height,
                              self.params)
        dets = Detections(transform.to_frame(dets.xyxy), dets.score, dets.class_id)
        if window is not None and self.tiling is not None:
            dets = drop_cut(dets, window, transform.frame_w, transform.frame_h)
        return dets

    def _finish(self, parts: list[Detections]) -> Detections:
        if self.tiling is None:
            return parts[0]
        return merge(parts, self.tiling, self.params.max_det)

    def __call__(self, frame: Frame) -> Detections:
        """Detect in one frame, synchronously."""
        return self._finish([self.decode(self.engine.infer(t), tr, win) for t, tr, win in self.prepare(frame)])

    def stream(self, frames: Iterable[tuple[T, Frame]]) -> Iterator[tuple[T, Detections]]:
        """Pipelined detection of ``(tag, frame)`` pairs; yields ``(tag, detections)`` in input order.

        Preprocessing of the next frames overlaps inference of earlier ones (the engine keeps
        ``engine.parallelism`` requests in flight), so several cameras can share one detector.
        """
        def requests() -> Iterator[tuple[tuple[T, int, Transform, Window], Tensor]]:
            for tag, frame in frames:
                prepared = self.prepare(frame)
                for tensor, transform, window in prepared:
                    yield (tag, len(prepared), transform, window), tensor

        parts: list[Detections] = []
        for (tag, n_parts, transform, window), outputs in self.engine.infer_stream(requests()):
            parts.append(self.decode(outputs, transform, window))
            if len(parts) == n_parts:
                yield tag, self._finish(parts)
                parts = []
