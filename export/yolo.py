"""Ultralytics YOLO -> ONNX, OpenVINO IR and LiteRT ``.tflite`` at FP32/FP16/INT8, with the manifest.

Every file takes the same input (``[1, 3, S, S]`` float32 RGB in [0, 1], letterboxed) and gives the same output
(``[1, 4 + nc, N]``: cx, cy, w, h in input pixels, then class scores), so one decoder serves every engine. INT8
files keep the box decoding of the detection head (DFL, anchors, concat of pixel boxes with scores) in float:
one int8 scale cannot hold both 0..640 pixel coordinates and 0..1 scores.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.models import InputSpec, Manifest
from export import calib as calibration
from export.common import ExportError, configure_offline, tool_versions
from export.formats import TOOLS, ExportResult, KeepFloat, check, export_all

log = logging.getLogger(__name__)

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def keep_levels(head: int) -> list[KeepFloat]:
    """Mixed-precision steps, lightest first: box decoding only, then the whole detection head."""
    return [
        KeepFloat("decode", (rf"^/model\.{head}/(?!cv\d)",),
                  (rf"Detect_{head};", rf"Detect_{head}/ultralytics\.nn\.modules\.block\.DFL", r"^serving_default_")),
        KeepFloat("head", (rf"^/model\.{head}/",), (rf"Detect_{head}", r"^serving_default_")),
    ]


@dataclass
class YoloSource:
    """A torch YOLO ready to trace: the module, its labels and the index of its detection head."""

    module: Any
    labels: list[str]
    head: int
    origin: str


def recalibrate_batchnorm(model: Any, images: np.ndarray, batch: int = 8) -> None:
    """Set every BatchNorm's running statistics from real images (a random-init net's outputs are otherwise
    constant: activations fade to zero through 100 un-normalised layers, and so would any engine comparison)."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over all batches
    model.train()
    with torch.no_grad():
        for start in range(0, len(images), batch):
            model(torch.from_numpy(images[start:start + batch]))
    model.eval()


def load(source: str | Path, seed: int = 0, images: np.ndarray | None = None) -> YoloSource:
    """A YOLO from ``*.pt`` weights or a ``*.yaml`` architecture (random init, seeded, BatchNorm statistics from
    ``images``), in export mode."""
    configure_offline()
    import torch
    from ultralytics import YOLO
    from ultralytics.nn.modules import C2f, Detect
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    text = str(source)
    if not text.endswith((".pt", ".yaml", ".yml")):
        raise ExportError(f"model {text!r}: give YOLO weights (*.pt) or an architecture (*.yaml, e.g. yolo11n.yaml)")
    if text.endswith(".pt") and not Path(text).is_file():
        raise ExportError(f"weights file {text} does not exist")
    torch.manual_seed(seed)
    try:
        model = YOLO(text).model
    except (FileNotFoundError, KeyError, AttributeError) as exc:
        raise ExportError(f"unknown model {text!r}: {exc}") from None
    names = dict(model.names)
    if text.endswith((".yaml", ".yml")):
        if len(names) == 80:  # an untrained COCO architecture: name its classes
            names = YAML.load(check_yaml("coco.yaml"))["names"]
        if images is not None:
            recalibrate_batchnorm(model.float(), images)
    model = model.float().eval().fuse()
    for p in model.parameters():
        p.requires_grad = False
    for m in model.modules():
        if isinstance(m, Detect):
            m.export, m.format, m.dynamic, m.shape = True, "onnx", False, None
        elif isinstance(m, C2f):
            m.forward = m.forward_split
    return YoloSource(model, [names[i] for i in range(len(names))], len(model.model) - 1, text)


def export(source: str | Path, out: Path, *, formats: Sequence[str] = ("onnx", "openvino", "litert"),
           precisions: Sequence[str] = ("fp32", "int8"), calib_sources: Sequence[Path] = (), imgsz: int = 640,
           calib_count: int = 64, name: str | None = None, description: str = "", origin: str | None = None,
           licence: str = "AGPL-3.0", keep_level: int = 0) -> ExportResult:
    """Export ``source`` into ``out/build/<format>-<precision>/`` and return the manifest (not yet saved)."""
    import torch

    check(formats, precisions)
    spec = InputSpec(width=imgsz, height=imgsz, layout="NCHW", dtype="float32", color="RGB", resize="letterbox")
    calib = calibration.load(calib_sources, spec, calib_count) if "int8" in precisions else None
    src = load(source, images=calib)
    manifest = Manifest(
        name=name or out.name, task="detect", architecture="yolo", description=description,
        source=origin or src.origin, licence=licence, input=spec, labels=src.labels,
        label_map={"person": src.labels.index("person")} if "person" in src.labels else {},
        tools=tool_versions("ultralytics", *TOOLS),
    )
    return export_all(src.module, torch.zeros(1, 3, imgsz, imgsz), out, manifest, formats, precisions, calib,
                      keep_levels(src.head), keep_level)


def build_yolo11n(folder: Path, engines: frozenset[str] | None = None) -> Manifest:
    """``models/yolo11n``: YOLO11n from ``yolo11n.yaml`` (random init, BatchNorm statistics from real frames), the
    engine-agreement test model, in all three formats at FP32 and INT8, calibrated on vtest.avi and the
    ultralytics sample photos."""
    from export.build import BuildError, only_engines

    only_engines("yolo11n", engines)
    if not VTEST.is_file():
        raise BuildError(f"calibration video {VTEST} is missing (install the Debian package opencv-doc)")
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    try:
        result = export(
            "yolo11n.yaml", folder, calib_sources=[VTEST, assets / "bus.jpg", assets / "zidane.jpg"], calib_count=32,
            name="yolo11n", licence="AGPL-3.0",
            description="YOLO11n (COCO classes), random weights with BatchNorm statistics from real frames: the "
                        "engine-agreement and speed test model, not a useful detector",
            origin="ultralytics yolo11n.yaml, random init (seed 0), BatchNorm statistics from vtest.avi frames",
        )
    except ExportError as exc:
        raise BuildError(str(exc)) from None
    log.info("yolo11n export times (s): %s", result.seconds)
    return result.manifest
