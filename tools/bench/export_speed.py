"""Side-by-side single-request latency of every file of a model, interleaved so machine load hits all alike.

    .venv/bin/python tools/bench/export_speed.py [--model yolo11n] [--rounds 7] [--runs 10] [--threads 2]

Each round runs ``--runs`` requests per file, in turn; the figure is the median over rounds of each round's median.
LiteRT runs with its default XNNPACK delegate. OpenVINO "fp32" runs as OpenVINO does by default (bf16 kernels on
CPUs with AVX512-BF16/AMX) and, as ``fp32(f32)``, forced to f32.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from edge.detect import read_frames
from edge.engines.base import Engine, create
from edge.models import Manifest
from edge.vision.preprocess import fit, to_tensor

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolo11n")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    manifest = Manifest.load(args.model)
    frame = next(read_frames(Path(VTEST)))[1]
    tensor = to_tensor(fit(frame, manifest.input)[0], manifest.input)
    engines: dict[str, Engine] = {}
    for item in manifest.files:
        path = manifest.path_of(item)
        key = f"{item.engine}/{item.precision}"
        if item.engine == "openvino":
            engines[key] = create("openvino", path)
            if item.precision == "fp32":
                engines[f"{key}(f32)"] = create("openvino", path, inference_precision="f32")
        else:
            engines[key] = create(item.engine, path, threads=args.threads)
    for engine in engines.values():
        engine.infer(tensor)  # warm up
    rounds: dict[str, list[float]] = {k: [] for k in engines}
    for _ in range(args.rounds):
        for key, engine in engines.items():
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                engine.infer(tensor)
                times.append(1000 * (time.perf_counter() - start))
            rounds[key].append(statistics.median(times))
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"{args.model}: median latency (ms) over {args.rounds} interleaved rounds of {args.runs} requests")
    for key, value in med.items():
        print(f"  {key:22s} {value:8.1f}")
    if "openvino/int8" in med and "openvino/fp32" in med:
        print(f"openvino int8 speed-up vs fp32 (default) {med['openvino/fp32'] / med['openvino/int8']:.2f}x, "
              f"vs fp32(f32) {med.get('openvino/fp32(f32)', float('nan')) / med['openvino/int8']:.2f}x")
    if "litert/int8" in med and "openvino/int8" in med:
        print(f"litert int8 / openvino int8 latency {med['litert/int8'] / med['openvino/int8']:.2f}")


if __name__ == "__main__":
    main()
