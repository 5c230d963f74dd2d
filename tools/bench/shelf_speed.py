"""Shelf pipeline speed on a 1280x720 shelf frame with >= 60 products (detect, persons, embed, match, state).

    .venv/bin/python tools/bench/shelf_speed.py [--data ../shared/data/grocery-store] [--frames 40] [--precision int8]

The frame is a composed shelf (held-out in-store photos of the val split plus catalogue images); every following
frame is the same shelf with fresh sensor noise, so boxes jitter a little as on a real static camera. Reports the
cold first frame (every crop embedded) and the steady-state median, and the same with the SKU cache disabled.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from edge.analytics.shelf import ShelfPipeline
from edge.analytics.shelf_config import ShelfConfig
from edge.analytics.sku import Embedder, Gallery
from edge.shelf_loader import load_shelf_pipeline
from export.shelf_synth import PRODUCT, Composer, list_sources, scene_rng


def shelf_frame(root: Path, minimum: int = 60) -> tuple[np.ndarray, int]:
    iconic, photos = list_sources(root, "val")
    composer = Composer([cv2.imread(str(p)) for p in iconic], [cv2.imread(str(p)) for p in photos[::3]], (1280, 720))
    for index in range(100):
        image, items = composer.compose(scene_rng(123, "val", index))
        count = sum(item.cls == PRODUCT for item in items)
        if count >= minimum:
            return image, count
    raise RuntimeError(f"no composed scene with {minimum} products")


def grid_config(skus: list[str], rows: int = 4, cols: int = 8) -> ShelfConfig:
    w, h = 1280 / cols, 720 / rows
    return ShelfConfig.model_validate({
        "shelf": "bench", "person_detector": "person-ssdlite",
        "rows": [{"name": f"r{r}", "slots": [
            {"name": f"r{r}c{c}", "sku": skus[(r * cols + c) % len(skus)],
             "polygon": [[c * w, r * h], [(c + 1) * w, r * h], [(c + 1) * w, (r + 1) * h], [c * w, (r + 1) * h]]}
            for c in range(cols)]} for r in range(rows)]})


def run(pipeline: ShelfPipeline, image: np.ndarray, frames: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(frames):
        noisy = np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8) if i else image
        start = time.perf_counter()
        result = pipeline(noisy, i / 10)
        out.append({"ms": 1000 * (time.perf_counter() - start), "embedded": result.embedded,
                    "products": len(result.products), **{f"ms_{k}": v for k, v in result.ms.items()}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/grocery-store"))
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args()
    image, count = shelf_frame(args.data)
    embedder = Embedder("efficientnet-lite0", args.engine, args.precision)
    iconic = sorted((args.data / "iconic-images-and-descriptions").rglob("*_Iconic.jpg"))
    gallery = Gallery(embedder.embed_files(iconic), np.array([p.parent.name for p in iconic]), embedder=embedder.name)
    config = grid_config(gallery.skus).model_copy(update={"engine": args.engine, "precision": args.precision})
    report: dict[str, object] = {"frame": "1280x720", "products_composed": count}
    for label, cache_iou in (("cached", config.cache_iou), ("no_cache", 1.01)):
        pipeline = load_shelf_pipeline(config, gallery=gallery)
        if cache_iou > 1:
            pipeline.cache.iou = cache_iou  # never a hit: every crop embedded every frame
        rows = run(pipeline, image, args.frames)
        steady = rows[5:]
        report[label] = {
            "cold_first_ms": round(rows[0]["ms"], 1),
            "steady_median_ms": round(float(np.median([r["ms"] for r in steady])), 1),
            "steady_p90_ms": round(float(np.percentile([r["ms"] for r in steady], 90)), 1),
            "products_detected": rows[0]["products"], "embedded_first": rows[0]["embedded"],
            "embedded_steady_median": float(np.median([r["embedded"] for r in steady])),
            "steady_median_parts_ms": {k[3:]: round(float(np.median([r[k] for r in steady])), 1)
                                       for k in rows[0] if k.startswith("ms_")},
        }
        print(json.dumps({label: report[label]}), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
