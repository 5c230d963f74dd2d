"""One torch module -> ONNX, OpenVINO IR and LiteRT ``.tflite`` files at FP32/FP16/INT8, listed in a manifest.

The ONNX FP32 graph is traced first and OpenVINO reads it, so ONNX and OpenVINO share node names; LiteRT is
converted from the module by litert-torch. Files go to ``<out>/build/<format>-<precision>/``. INT8 files are
calibrated on the same prepared images for every engine (:mod:`export.quantize`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.models import Manifest
from export import quantize
from export.build import file_entry, next_version
from export.common import FORMAT_ENGINES, PRECISIONS, ExportError

log = logging.getLogger(__name__)

FILES = {"onnx": "model.onnx", "openvino": "model.xml", "litert": "model.tflite"}
TOOLS = ("torch", "onnx", "onnxruntime", "openvino", "nncf", "litert-torch", "ai-edge-quantizer", "ai-edge-litert")


@dataclass(frozen=True)
class KeepFloat:
    """Parts of the graph an INT8 file keeps in float (mixed precision), as name patterns per naming scheme."""

    level: str
    onnx: tuple[str, ...]  # regexes on ONNX node names (OpenVINO keeps them when it reads the ONNX file)
    litert: tuple[str, ...]  # regexes on LiteRT tensor names (module paths written by litert-torch)
    openvino: dict[str, bool] = field(default_factory=dict)  # NNCF options (quantize.openvino_int8 keywords)
    onnx_options: dict[str, bool] = field(default_factory=dict)  # quantize.onnx_int8 keywords


@dataclass
class ExportResult:
    manifest: Manifest
    out: Path
    calib: np.ndarray | None
    levels: list[KeepFloat]  # mixed-precision steps the accuracy gate may take, lightest first
    kept: dict[str, str] = field(default_factory=dict)  # "engine/int8" -> the KeepFloat level used
    seconds: dict[str, float] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)  # engine -> format


def check(formats: Sequence[str], precisions: Sequence[str]) -> None:
    bad = [f for f in formats if f not in FILES] + [p for p in precisions if p not in PRECISIONS]
    if bad or not formats or not precisions:
        raise ExportError(f"unsupported format/precision {', '.join(bad) or 'none given'} (formats: "
                          f"{', '.join(FILES)}; precisions: {', '.join(PRECISIONS)})")


def rel(fmt: str, precision: str) -> str:
    return f"build/{fmt}-{precision}/{FILES[fmt]}"


def _onnx(module: Any, example: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, example, str(path), opset_version=17, dynamo=False, input_names=["images"],
                      output_names=["output0"])


def _openvino(src: Path, path: Path, fp16: bool) -> None:
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(src) if src.suffix == ".onnx" else ov.Core().read_model(src)
    ov.save_model(model, path, compress_to_fp16=fp16)


def _onnx_fp16(src: Path, path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(path))


def _litert(module: Any, example: Any, path: Path) -> None:
    import litert_torch

    path.parent.mkdir(parents=True, exist_ok=True)
    for m in module.modules():  # an earlier trace may leave traced shapes cached (ultralytics' Detect.shape)
        if hasattr(m, "shape") and not callable(m.shape):
            m.shape = None
    litert_torch.convert(module, (example,)).export(str(path))


def export_all(module: Any, example: Any, out: Path, manifest: Manifest, formats: Sequence[str],
               precisions: Sequence[str], calib: np.ndarray | None, levels: list[KeepFloat],
               keep_level: int = 0) -> ExportResult:
    """Write every ``format x precision`` file of ``module`` under ``out`` and list them in ``manifest``."""
    check(formats, precisions)
    if "int8" in precisions and calib is None:
        raise ExportError("INT8 needs calibration images (--calib)")
    manifest.version = next_version(out)  # every export is a new version of the model in ``out``
    result = ExportResult(manifest, out, calib, levels, formats={FORMAT_ENGINES[f]: f for f in formats})
    keep = levels[keep_level]
    _timed(result, "onnx/fp32", _onnx, module, example, out / rel("onnx", "fp32"))
    for fmt in formats:
        if fmt == "openvino":
            _timed(result, "openvino/fp32", _openvino, out / rel("onnx", "fp32"), out / rel(fmt, "fp32"), False)
        elif fmt == "litert":
            _timed(result, "litert/fp32", _litert, module, example, out / rel(fmt, "fp32"))
        for precision in precisions:
            variant(result, fmt, precision, keep)
    manifest.root = out
    return result


def _timed(result: ExportResult, key: str, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
    start = time.monotonic()
    fn(*args, **kwargs)
    result.seconds[key] = round(time.monotonic() - start, 1)
    log.info("exported %s in %.1f s", key, result.seconds[key])


def variant(result: ExportResult, fmt: str, precision: str, keep: KeepFloat) -> None:
    """Make (or remake) the ``precision`` file of ``fmt`` from its FP32 file and list it in the manifest."""
    out, calib = result.out, result.calib
    engine = FORMAT_ENGINES[fmt]
    fp32, path = out / rel(fmt, "fp32"), out / rel(fmt, precision)
    if precision == "fp16" and fmt == "litert":
        log.warning("no litert/fp16 file: LiteRT runs the FP32 file in FP16 on GPU delegates")
        return
    if precision == "fp16":
        if fmt == "onnx":
            _timed(result, "onnxruntime/fp16", _onnx_fp16, fp32, path)
        else:
            _timed(result, "openvino/fp16", _openvino, fp32, path, True)
    elif precision == "int8":
        patterns = keep.litert if fmt == "litert" else keep.onnx
        if fmt == "openvino":
            _timed(result, "openvino/int8", quantize.openvino_int8, fp32, path, calib, patterns, **keep.openvino)
        elif fmt == "onnx":
            _timed(result, "onnxruntime/int8", quantize.onnx_int8, fp32, path, calib, patterns, **keep.onnx_options)
        else:
            _timed(result, "litert/int8", quantize.litert_int8, fp32, path, calib, patterns)
        result.kept[f"{engine}/int8"] = keep.level
    extra = [str(Path(rel(fmt, precision)).with_suffix(".bin"))] if fmt == "openvino" else []
    entry = file_entry(out, engine, precision, rel(fmt, precision), extra)
    files = result.manifest.files
    same = [i for i, f in enumerate(files) if (f.engine, f.precision) == (engine, precision)]
    if same:
        files[same[0]] = entry
    else:
        files.append(entry)
