"""Where the time goes in an OpenVINO model on this CPU: per-kernel profiling, grouped by execution precision.

    .venv/bin/python tools/bench/int8_profile.py [--model yolo11n] [--runs 30]

For the INT8 file and for the FP32 (else FP16) file (run as OpenVINO does by default, and forced to f32) it reports the
median single-request latency (one stream, all cores) and the share of kernel time spent in int8 kernels vs
bf16/f32 ones, plus the largest non-int8 layer types: what bounds the INT8 speed-up.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from pathlib import Path

import numpy as np
import openvino as ov

from edge.detect import read_frames
from edge.models import Manifest
from edge.vision.preprocess import fit, to_tensor

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def profile(path: str, tensor: np.ndarray, runs: int, precision: str | None) -> dict[str, object]:
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(path, "CPU", config)
    request = compiled.create_infer_request()
    for _ in range(3):
        request.infer({0: tensor})
    times, by_precision, by_type = [], collections.Counter(), collections.Counter()
    for _ in range(runs):
        start = time.perf_counter()
        request.infer({0: tensor})
        times.append((time.perf_counter() - start) * 1e3)
        for info in request.profiling_info:
            us = info.real_time.total_seconds() * 1e6
            kernel_precision = info.exec_type.rsplit("_", 1)[-1] if "_" in info.exec_type else info.exec_type
            by_precision[kernel_precision] += us
            if kernel_precision not in ("I8", "U8"):
                by_type[f"{info.node_type}:{info.exec_type}"] += us
    total = sum(by_precision.values())
    return {
        "latency_ms": round(statistics.median(times), 1),
        "inference_precision": str(compiled.get_property("INFERENCE_PRECISION_HINT")),
        "kernel_share": {k: round(v / total, 3) for k, v in by_precision.most_common(6)},
        "top_non_int8": [(k, round(v / total, 3)) for k, v in by_type.most_common(6)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolo11n")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    manifest = Manifest.load(args.model)
    frame = next(read_frames(Path(VTEST), 1))[1]
    tensor = to_tensor(fit(frame, manifest.input)[0], manifest.input)
    floats = [p for _, p in manifest.variants() if p != "int8"]
    reference = "fp32" if "fp32" in floats else floats[0]  # person-ssdlite ships FP16 only
    cases = [("int8", None), (reference, None), (reference, "f32")]
    for precision, hint in cases:
        path = str(manifest.path_of(manifest.select("openvino", precision)))
        result = profile(path, tensor, args.runs, hint)
        print(f"{precision} (inference precision {hint or 'default'}): {result}")


if __name__ == "__main__":
    main()
