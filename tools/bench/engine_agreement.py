"""Engine agreement figures for docs/benchmarks.md: YOLO11n raw outputs on three real vtest.avi frames.

    PYTHONPATH=. .venv/bin/python tools/bench/engine_agreement.py [--model yolo11n]

Per file: max relative error of boxes and of class scores against ONNX Runtime FP32, and cosine similarity to
the same engine's FP32 output (whole tensor, and the class-score rows alone). Same maths as
tests/edge/engines/test_agreement.py.
"""

from __future__ import annotations

import argparse

from edge.models import Manifest
from edge.vision.preprocess import fit, to_tensor
from tests.edge.engines.test_agreement import cosine, raw_outputs, relative_errors
from tests.edge.models_fixtures import vtest_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolo11n")
    args = parser.parse_args()
    manifest = Manifest.load(args.model)
    tensors = [to_tensor(fit(f, manifest.input)[0], manifest.input) for f in vtest_frames([0, 150, 300])]
    outputs = {(f.engine, f.precision): raw_outputs(manifest, f, tensors) for f in manifest.files}
    ref = outputs[("onnxruntime", "fp32")]
    print("| file | boxes rel. err vs ORT FP32 | scores rel. err vs ORT FP32 | cosine vs own FP32 | "
          "cosine, score rows only |")
    print("|---|---|---|---|---|")
    for (engine, precision), out in outputs.items():
        fp32 = outputs[(engine, "fp32")]
        boxes, scores = relative_errors(out, ref)
        print(f"| {engine} {precision} | {boxes:.1e} | {scores:.1e} | {cosine(out, fp32):.5f} | "
              f"{cosine(out[:, 4:], fp32[:, 4:]):.3f} |")


if __name__ == "__main__":
    main()
