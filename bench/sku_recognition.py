"""SKU recognition accuracy on the Grocery Store Dataset val split (296 real phone photos, 81 fine / 42 coarse classes).

    .venv/bin/python bench/sku_recognition.py [--data ../shared/data/grocery-store] [--precisions fp32,int8]

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

from edge.analytics.sku import UNKNOWN, Embedder, Gallery, calibrate_threshold


def split(root: Path, name: str) -> tuple[list[Path], list[str]]:
    classes = {int(r[1]): r[0] for r in csv.reader((root / "classes.csv").open()) if r[1].strip().isdigit()}
    paths, labels = [], []
    for line in (root / f"{name}.txt").read_text().splitlines():
        rel, fine, _ = (x.strip() for x in line.split(","))
        paths.append(root / rel)
        labels.append(classes[int(fine)])
    return paths, labels


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
        start = time.perf_counter()
        e_iconic = embedder.embed_files(iconic)
        per_image_ms = 1000 * (time.perf_counter() - start) / len(iconic)
        e_train, e_val = embedder.embed_files(train), embedder.embed_files(val)
        one = Gallery(e_iconic, np.array(iconic_labels), embedder=embedder.name)
        one.threshold, one_rates = calibrate_threshold(one, e_train, train_labels)
        few = Gallery(e_train, np.array(train_labels), embedder=embedder.name)
        few.threshold, few_rates = calibrate_threshold(few, e_train, train_labels, leave_one_out=True)
        report[precision] = {
            "embedder": embedder.name, "enroll_ms_per_image": round(per_image_ms, 1),
            "one_shot": {**scores(one, e_val, val_labels, coarse), "threshold": round(one.threshold, 4),
                         **{f"train_{k}": round(v, 3) for k, v in one_rates.items()}},
            "few_shot": {**scores(few, e_val, val_labels, coarse), "threshold": round(few.threshold, 4),
                         **{f"train_{k}": round(v, 3) for k, v in few_rates.items()}},
        }
        print(json.dumps({precision: report[precision]}), flush=True)


if __name__ == "__main__":
    main()
