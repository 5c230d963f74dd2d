"""Ultralytics YOLO -> ONNX, OpenVINO IR and LiteRT ``.tflite`` at FP32/FP16/INT8, with the manifest.

Every file takes the same input (``[1, 3, S, S]`` float32 RGB in [0, 1], letterboxed) and gives the same output
(``[1, 4 + nc, N]``: cx, cy, w, h in input pixels, then class scores), so one decoder serves every engine. INT8
files keep the box decoding of the detection head (DFL, anchors, concat of pixel boxes with scores) in float:
one int8 scale cannot hold both 0..640 pixel coordinates and 0..1 scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.models import InputSpec, Manifest
from export import calib as calibration
from export import quantize
from export.build import file_entry
from export.common import FORMAT_ENGINES, PRECISIONS, ExportError, configure_offline, tool_versions

log = logging.getLogger(__name__)

TOOLS = ("ultralytics", "torch", "onnx", "onnxruntime", "openvino", "nncf", "litert-torch", "ai-edge-quantizer",
         "ai-edge-litert")
FILES = {"onnx": "model.onnx", "openvino": "model.xml", "litert": "model.tflite"}


@dataclass(frozen=True)
class KeepFloat:
    """Parts of the graph an INT8 file keeps in float, as name patterns per naming scheme."""

    level: str
    onnx: tuple[str, ...]  # ONNX node names, which OpenVINO keeps when it reads the ONNX file
    litert: tuple[str, ...]  # LiteRT tensor names (module paths from litert-torch)


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


@dataclass
class ExportResult:
    manifest: Manifest
    kept: dict[str, str] = field(default_factory=dict)  # "engine/int8" -> mixed-precision level used
    seconds: dict[str, float] = field(default_factory=dict)


def recalibrate_batchnorm(model: Any, images: np.ndarray, batch: int = 8) -> None:
    """Set every BatchNorm's running statistics from real images (a random-init net's outputs are otherwise
    constant: activations fade to zero through 100 un-normalised layers, and so would any engine comparison)."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
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
    if text.endswith(".pt") and not Path(text).is_file():
        raise ExportError(f"weights file {text} does not exist")
    if not text.endswith((".pt", ".yaml", ".yml")):
        raise ExportError(f"model {text!r}: give YOLO weights (*.pt) or an architecture (*.yaml, e.g. yolo11n.yaml)")
    torch.manual_seed(seed)
    try:
        model = YOLO(text).model
    except (FileNotFoundError, KeyError, AttributeError) as exc:
        raise ExportError(f"unknown model {text!r}: {exc}") from None
    names = dict(model.names)
    if text.endswith((".yaml", ".yml")) and len(names) == 80:  # an untrained COCO architecture: name its classes
        names = YAML.load(check_yaml("coco.yaml"))["names"]
    if text.endswith((".yaml", ".yml")) and images is not None:
        recalibrate_batchnorm(model.float(), images)
    model = model.float().eval().fuse()
    for p in model.parameters():
        p.requires_grad = False
    for m in model.modules():
        if isinstance(m, Detect):
            m.export, m.format, m.dynamic, m.shape = True, "onnx", False, None
        elif isinstance(m, C2f):
            m.forward = m.forward_split
    head = len(model.model) - 1
    return YoloSource(model, [names[i] for i in range(len(names))], head, text)


def _onnx(src: YoloSource, imgsz: int, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(src.module, torch.zeros(1, 3, imgsz, imgsz), str(path), opset_version=17, dynamo=False,
                      input_names=["images"], output_names=["output0"])


def _openvino(onnx_path: Path, path: Path, fp16: bool) -> None:
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(onnx_path), path, compress_to_fp16=fp16)


def _openvino_fp16(fp32_xml: Path, path: Path) -> None:
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Core().read_model(fp32_xml), path, compress_to_fp16=True)


def _onnx_fp16(onnx_path: Path, path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True), str(path))


def _litert(src: YoloSource, imgsz: int, path: Path) -> None:
    import litert_torch
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    for m in src.module.modules():  # the ONNX trace leaves traced anchor shapes cached on the head
        if hasattr(m, "shape"):
            m.shape = None
    litert_torch.convert(src.module, (torch.zeros(1, 3, imgsz, imgsz),)).export(str(path))


def rel(fmt: str, precision: str) -> str:
    return f"build/{fmt}-{precision}/{FILES[fmt]}"


def export(source: str | Path, out: Path, *, formats: Sequence[str] = ("onnx", "openvino", "litert"),
           precisions: Sequence[str] = ("fp32", "int8"), calib_sources: Sequence[Path] = (), imgsz: int = 640,
           calib_count: int = 64, name: str | None = None, description: str = "", origin: str | None = None,
           licence: str = "AGPL-3.0", keep_level: int = 0) -> ExportResult:
    """Export ``source`` into ``out/build/<format>-<precision>/`` and return the manifest (not yet saved)."""
    bad = [f for f in formats if f not in FILES] + [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ExportError(f"unsupported format/precision {', '.join(bad)} (formats: {', '.join(FILES)}; "
                          f"precisions: {', '.join(PRECISIONS)})")
    calib = calibration.load(calib_sources, imgsz, calib_count) if "int8" in precisions else None
    src = load(source, images=calib)
    result = ExportResult(Manifest(
        name=name or out.name, task="detect", architecture="yolo", description=description,
        source=origin or src.origin, licence=licence,
        input=InputSpec(width=imgsz, height=imgsz, layout="NCHW", dtype="float32", color="RGB", resize="letterbox"),
        labels=src.labels, label_map={"person": src.labels.index("person")} if "person" in src.labels else {},
        tools=tool_versions(*TOOLS),
    ))
    _timed(result, "onnx/fp32", _onnx, src, imgsz, out / rel("onnx", "fp32"))  # the graph every file starts from
    keep = keep_levels(src.head)[keep_level]
    for fmt in formats:
        if fmt == "openvino":
            _timed(result, "openvino/fp32", _openvino, out / rel("onnx", "fp32"), out / rel(fmt, "fp32"), False)
        elif fmt == "litert":
            _timed(result, "litert/fp32", _litert, src, imgsz, out / rel(fmt, "fp32"))
        for precision in precisions:
            _variant(result, out, fmt, precision, calib, keep)
    result.manifest.root = out
    return result


def _timed(result: ExportResult, key: str, fn: Callable[..., object], *args: object) -> None:
    start = time.monotonic()
    fn(*args)
    result.seconds[key] = round(time.monotonic() - start, 1)
    log.info("exported %s in %.1f s", key, result.seconds[key])


def _variant(result: ExportResult, out: Path, fmt: str, precision: str, calib: np.ndarray | None,
             keep: KeepFloat) -> None:
    """Make the ``precision`` file of ``fmt`` from its FP32 file and list it in the manifest."""
    engine = FORMAT_ENGINES[fmt]
    fp32, path = out / rel(fmt, "fp32"), out / rel(fmt, precision)
    if precision == "fp16" and fmt == "litert":
        log.warning("no litert/fp16 file: LiteRT runs the FP32 file in FP16 on GPU delegates")
        return
    if precision == "fp16":
        _timed(result, f"{engine}/fp16", _onnx_fp16 if fmt == "onnx" else _openvino_fp16, fp32, path)
    elif precision == "int8":
        quant = {"onnx": quantize.onnx_int8, "openvino": quantize.openvino_int8, "litert": quantize.litert_int8}[fmt]
        _timed(result, f"{engine}/int8", quant, fp32, path, calib, keep.litert if fmt == "litert" else keep.onnx)
        result.kept[f"{engine}/int8"] = keep.level
    extra = [str(Path(rel(fmt, precision)).with_suffix(".bin"))] if fmt == "openvino" else []
    entry = file_entry(out, engine, precision, rel(fmt, precision), extra)
    result.manifest.files = [f for f in result.manifest.files if (f.engine, f.precision) != (engine, precision)]
    result.manifest.files.append(entry)


VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def build_yolo11n(folder: Path) -> Manifest:
    """``models/yolo11n``: YOLO11n from ``yolo11n.yaml`` (random init, BatchNorm statistics from real frames), the
    engine-agreement test model, in all three formats at FP32 and INT8, calibrated on vtest.avi and the
    ultralytics sample photos."""
    from export.build import BuildError

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
