"""INT8 vs FP32 quality figures of exported models, per engine (the numbers in docs/benchmarks.md, issue 6).

    .venv/bin/python tools/bench/export_quality.py embedder [--model efficientnet-lite0] [--every 8]
    .venv/bin/python tools/bench/export_quality.py detections --model build/gate-demo/person-yolo11n-160 \
        --images build/mot-person/images/val [--every 3] [--conf 0.4]

``embedder``: cosine of INT8 to FP32 embeddings on Grocery Store Dataset val photos (../shared/data).
``detections``: INT8 detections matched one-to-one (Hungarian on IoU) to the FP32 detections of the same engine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from tools.quality import matched_ious

ENGINES = ("onnxruntime", "openvino", "litert")
GROCERY = Path(__file__).resolve().parents[3] / "shared" / "data" / "grocery-store"


def _options(engine: str) -> dict[str, str]:
    return {"inference_precision": "f32"} if engine == "openvino" else {}


def embedder(model: str, every: int) -> None:
    from edge.analytics.sku import Embedder

    paths = sorted((GROCERY / "val").rglob("*.jpg"))[::every]
    print(f"{model}: cosine(INT8, FP32) over {len(paths)} Grocery Store val photos")
    for engine in ENGINES:
        fp32 = Embedder(model, engine, "fp32", **_options(engine)).embed_files(paths)
        int8 = Embedder(model, engine, "int8", **_options(engine)).embed_files(paths)
        cos = (fp32 * int8).sum(axis=1)
        print(f"  {engine:12s} mean {cos.mean():.4f}  min {cos.min():.4f}  p5 {np.percentile(cos, 5):.4f}")


def detections(model: str, images: Path, every: int, conf: float) -> None:
    from edge.detector import Detector

    frames = [cv2.imread(str(p)) for p in sorted(images.glob("*.jpg"))[::every]]
    print(f"{model}: INT8 vs FP32 detections (conf {conf}) on {len(frames)} images")
    for engine in ENGINES:
        ref = Detector.from_manifest(model, engine, "fp32", conf=conf, **_options(engine))
        got = Detector.from_manifest(model, engine, "int8", conf=conf, **_options(engine))
        ious: list[float] = []
        n_ref = n_got = 0
        for frame in frames:
            a, b = ref(frame), got(frame)
            n_ref, n_got = n_ref + len(a), n_got + len(b)
            ious.extend(matched_ious(a.xyxy, b.xyxy, iou=0.3).tolist())
        m = np.asarray(ious)
        print(f"  {engine:12s} fp32 {n_ref}  int8 {n_got}  matched {len(m)}  median IoU {np.median(m):.3f}  "
              f"share IoU>=0.9 {(m >= 0.9).mean():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("embedder", "detections"))
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--images", type=Path)
    parser.add_argument("--every", type=int, default=8)
    parser.add_argument("--conf", type=float, default=0.4)
    args = parser.parse_args()
    if args.what == "embedder":
        embedder(args.model, args.every)
    else:
        detections(args.model, args.images, args.every, args.conf)


if __name__ == "__main__":
    main()
