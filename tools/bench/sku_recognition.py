"""SKU recognition accuracy on the Grocery Store Dataset val split (296 real phone photos, 81 fine / 42 coarse classes).

    .venv/bin/python tools/bench/sku_recognition.py [--data ../shared/data/grocery-store] [--precisions fp32,int8]
        [--projection PATH|none]

One-shot: the gallery is the 81 catalogue (iconic) images; few-shot: the gallery is the train split (2,640 photos).
Both go through the projection ``smartstore sku enroll`` applies by default (the shipped
``models/shelf-products/sku-projection.npz``; ``--projection none``: raw embeddings). Top-1/top-5 are closed-set
(the best SKUs whatever their score); ``top1_open`` counts an ``unknown`` answer (below the threshold calibrated on
the train split) as wrong, and ``unknown`` is how often it answered so. Coarse accuracy: the predicted fine class
belongs to the right coarse class (top-5: any of the five does).

``unseen``: true few-shot on SKUs the projection never saw. The classes are split in two halves by fine class id
(even / odd); a projection is fitted on one half's train photos only (``shipped``: whitening beside LDA, as
``export/sku_projection.py`` fits the shipped one; ``lda``, ``whitening``: each part alone), and the other half
is enrolled from its train photos (1, 5 or all shots per SKU; 1 and 5: the mean over 20 random draws) and
queried with its val photos; then the halves swap. Raw embeddings on the same galleries for comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from edge.analytics.sku import UNKNOWN, Embedder, Gallery, calibrate_threshold, default_projection, load_projection
from export.sku_projection import DIMS, SHRINKAGE, cached_embeddings, fit_combined, fit_lda, fit_whitening, split


def classes_of(root: Path) -> dict[str, tuple[int, str]]:
    """Fine class name -> (fine id, coarse class name)."""
    rows = list(csv.reader((root / "classes.csv").open()))[1:]
    return {r[0]: (int(r[1]), r[2]) for r in rows}


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


def top1(gallery: Gallery, queries: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([m.top[0][0] == t for m, t in zip(gallery.match(queries, k=1), labels, strict=True)]))


def unseen(x_train: np.ndarray, train_labels: list[str], x_val: np.ndarray, val_labels: list[str],
           fine_id: dict[str, int], draws: int = 20) -> dict[str, dict[str, float]]:
    """Top-1 (%) on the half of the classes the projection was not fitted on, per shots, both directions averaged."""
    ytr, yva = np.array(train_labels), np.array(val_labels)
    half = {name: fid % 2 for name, fid in fine_id.items()}
    out: dict[str, dict[str, list[float]]] = {}
    for fit_half in (0, 1):
        fit = np.array([half[t] == fit_half for t in ytr])
        fitted = {"lda": fit_lda(x_train[fit], ytr[fit].tolist(), DIMS, SHRINKAGE),
                  "whitening": fit_whitening(x_train[fit], ytr[fit].tolist()),
                  "shipped": fit_combined(x_train[fit], ytr[fit].tolist())}
        test_tr, test_va = ~fit, np.array([half[t] != fit_half for t in yva])
        rng = np.random.default_rng(fit_half)
        for shots in ("1", "5", "all"):
            for _ in range(1 if shots == "all" else draws):
                rows = np.concatenate([
                    idx if shots == "all" else rng.choice(idx, min(int(shots), len(idx)), replace=False)
                    for idx in (np.flatnonzero(test_tr & (ytr == c)) for c in np.unique(ytr[test_tr]))])
                for name, proj in (("raw", None), *fitted.items()):
                    gallery = Gallery.from_raw(x_train[rows], ytr[rows].tolist(), proj)
                    got = top1(gallery, x_val[test_va], yva[test_va])
                    out.setdefault(f"{shots}_shot", {}).setdefault(name, []).append(100 * got)
    return {k: {name: round(float(np.mean(v)), 1) for name, v in d.items()} for k, d in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/grocery-store"))
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--projection", default=str(default_projection()),
                        help="learned projection .npz (default: the shipped one, as sku enroll; none: raw)")
    parser.add_argument("--cache", type=Path, default=Path("build/sku-embeddings"), help="embedding cache folder")
    args = parser.parse_args()
    root = args.data
    iconic = sorted((root / "iconic-images-and-descriptions").rglob("*_Iconic.jpg"))
    iconic_labels = [p.parent.name for p in iconic]
    train, train_labels = split(root, "train")
    val, val_labels = split(root, "val")
    classes = classes_of(root)
    coarse = {name: c for name, (_, c) in classes.items()}
    with_projection = args.projection != "none"
    report = {}
    for precision in args.precisions.split(","):
        embedder = Embedder(args.model, args.engine, precision)
        projection, _, projected_threshold = load_projection(args.projection) if with_projection else (None, "", None)
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
            "embedder": embedder.name, "projection": args.projection,
            "enroll_ms_per_image": round(per_image_ms, 1),
            "one_shot": {**scores(one, e_val, val_labels, coarse), "threshold": round(one.threshold, 4),
                         **{f"train_{k}": round(v, 3) for k, v in one_rates.items()}},
            "few_shot": {**scores(few, e_val, val_labels, coarse), "threshold": round(few.threshold, 4),
                         **{f"train_{k}": round(v, 3) for k, v in few_rates.items()}},
            "unseen": unseen(e_train, train_labels, e_val, val_labels, {n: i for n, (i, _) in classes.items()}),
        }
        print(json.dumps({precision: report[precision]}), flush=True)


if __name__ == "__main__":
    main()
