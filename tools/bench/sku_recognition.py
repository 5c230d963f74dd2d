"""SKU recognition accuracy on the Grocery Store Dataset val split (296 real phone photos, 81 fine / 42 coarse classes).

    .venv/bin/python tools/bench/sku_recognition.py [--data ../shared/data/grocery-store] [--precisions fp32,int8]

One-shot: the gallery is the 81 catalogue (iconic) images; few-shot: the gallery is the train split (2,640 photos).
Top-1/top-5 are closed-set (the best SKUs whatever their score); ``top1_open`` counts an ``unknown`` answer (below
the threshold calibrated on the train split) as wrong, and ``unknown`` is how often it answered so. Coarse
accuracy: the predicted fine class belongs to the right coarse class (top-5: any of the five does).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from edge.analytics.sku import UNKNOWN, Embedder, Gallery, calibrate_threshold, load_projection
from export.sku_projection import cached_embeddings, split


def coarse_of(root: Path) -> dict[str, str]:
    rows = list(csv.reader((root / "classes.csv").open()))[1:]
    return {r[0]: r[2] for r in rows}


def scores(gallery: Gallery, queries: np.ndarray, labels: list[str], coarse: dict[str, str]) -> dict[str, float]:
    matches = gallery.match(queries, k=5)
    top1 = [m.top[0][0] == t for m, t in zip(matches, labels, strict=True)]
    top5 = [t in [s for s, _ in m.top] for m, t in zip(matches, labels, strict=True)]
    c1 = [coarse[m.top[0][0]] == coarse[t] for m, t in zip(matches, labels, strict=True)]
    c5 = [coarse[t] in {coarse[s] for s, _ in m.top} for m, t in zip(matches, labels, strict=True)]
    open1 = [m.sku == t for m, t in zip(matches, labels, strict=True)]
    unknown = [m.sku == UNKNOWN for m in matches]
    return {k: round(100 * float(np.mean(v)), 1) for k, v in
            {"top1": top1, "top5": top5, "coarse_top1": c1, "coarse_top5": c5, "top1_open": open1,
             "unknown": unknown}.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/grocery-store"))
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--projection", type=Path, help="learned projection .npz (export/sku_projection.py)")
    parser.add_argument("--cache", type=Path, default=Path("build/sku-embeddings"), help="embedding cache folder")
    args = parser.parse_args()
    root = args.data
    iconic = sorted((root / "iconic-images-and-descriptions").rglob("*_Iconic.jpg"))
    iconic_labels = [p.parent.name for p in iconic]
    train, train_labels = split(root, "train")
    val, val_labels = split(root, "val")
    coarse = coarse_of(root)
    report = {}
    for precision in args.precisions.split(","):
        embedder = Embedder(args.model, args.engine, precision)
        projection, _, projected_threshold = load_projection(args.projection) if args.projection else (None, "", None)
        start = time.perf_counter()
        e_iconic = embedder.embed_files(iconic)
        per_image_ms = 1000 * (time.perf_counter() - start) / len(iconic)
        e_train = cached_embeddings(embedder, train, args.cache / f"train-{precision}.npy")
        e_val = cached_embeddings(embedder, val, args.cache / f"val-{precision}.npy")
        one = Gallery.from_raw(e_iconic, iconic_labels, projection, embedder.name)
        one.threshold, one_rates = calibrate_threshold(one, e_train, train_labels)
        few = Gallery.from_raw(e_train, train_labels, projection, embedder.name)
        few.threshold, few_rates = calibrate_threshold(few, None, few.labels.tolist(), leave_one_out=True)
        if projected_threshold is not None:  # leave-one-out is optimistic where the projection saw the rows
            few.threshold = projected_threshold
        report[precision] = {
            "embedder": embedder.name, "projection": str(args.projection),
            "enroll_ms_per_image": round(per_image_ms, 1),
            "one_shot": {**scores(one, e_val, val_labels, coarse), "threshold": round(one.threshold, 4),
                         **{f"train_{k}": round(v, 3) for k, v in one_rates.items()}},
            "few_shot": {**scores(few, e_val, val_labels, coarse), "threshold": round(few.threshold, 4),
                         **{f"train_{k}": round(v, 3) for k, v in few_rates.items()}},
        }
        print(json.dumps({precision: report[precision]}), flush=True)


if __name__ == "__main__":
    main()
