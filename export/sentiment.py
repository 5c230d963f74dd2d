"""Build the shipped sentiment models: ``python -m export.sentiment [--data ../shared/data/reviews]``.

Fits the English and Chinese models (:mod:`collector.sentiment.fit`) on the training rows of the review sets
(every row not in the validation split of :func:`collector.sentiment.datasets.is_validation`), scores the
validation rows with the learned model and the lexicon scorer, and writes ``models/sentiment/en.npz``,
``zh.npz`` and ``sentiment.yaml`` (source, data licence, sha256 of every file, the validation figures).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import time
from pathlib import Path
from typing import Any

import yaml

from collector.sentiment import lexicon
from collector.sentiment.datasets import is_validation, load_labelled
from collector.sentiment.evaluate import balanced_accuracy
from collector.sentiment.fit import fit
from collector.sentiment.model import SentimentModel
from collector.sentiment.scorer import models_dir

SOURCES = {"en": "clothing-reviews-en.csv", "zh": "online-shopping-zh.csv"}
DATA = ("../shared/data/reviews: clothing-reviews-en.csv (women's clothing e-commerce reviews, github "
        "Python-Big-Data-Science-NYC/PythonDataScienceBootcampNYC @ 491172b2; positive = Rating 4-5, negative = "
        "1-2, 3 dropped) and online-shopping-zh.csv (github SophonPlus/ChineseNlpCorpus @ a0b781d7, "
        "online_shopping_10_cats; label 1/0)")
MANIFEST = "sentiment.yaml"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(data: Path, out: Path) -> dict[str, Any]:
    """Fit, validate and write both models and the manifest; returns the manifest."""
    files: dict[str, Any] = {}
    for lang, name in SOURCES.items():
        reviews = load_labelled(data / name)
        val = is_validation(reviews.name, reviews.row)
        train, held = reviews.take(~val), reviews.take(val)
        model, report = fit(train, lang)
        path = model.save(out / f"{lang}.npz")
        model = SentimentModel.load(path)  # the figures are the shipped file's
        start = time.perf_counter()
        learned = balanced_accuracy(held.label, model.predict(list(held.text)))
        score_s = time.perf_counter() - start
        files[lang] = {
            "path": path.name, "sha256": _sha256(path), "size_mb": round(path.stat().st_size / 1e6, 2),
            "analyzers": [b.analyzer for b in model.blocks], "terms": sum(len(b.vocab) for b in model.blocks),
            "training": {"rows": report.rows, "texts": report.texts, "c": report.c, "nb_alpha": report.nb_alpha,
                         "nb_weight": report.nb_weight, "threshold": report.threshold,
                         "cv_balanced_accuracy": round(report.cv_balanced_accuracy, 4),
                         "cv_by_c": {str(k): round(v, 4) for k, v in report.cv.items()},
                         "cv_by_nb_alpha_weight": {k: round(v, 4) for k, v in report.cv_blend.items()},
                         "seconds": round(report.seconds, 1)},
            "validation": {"rows": len(held.text), "positive": int(held.label.sum()),
                           "learned_balanced_accuracy": round(learned, 4),
                           "lexicon_balanced_accuracy": round(
                               balanced_accuracy(held.label, lexicon.score(list(held.text), lang)), 4),
                           "learned_score_s": round(score_s, 2)},
        }
    manifest = {
        "name": "sentiment",
        "task": "review sentiment, P(positive) per text",
        "method": "TF-IDF (sublinear tf, one L2-normalised block per analyzer); class-balanced linear SVM blended "
                  "with complement naive Bayes on the same features (one linear model); C, NB alpha, blend weight "
                  "and threshold by 4-fold grouped CV on the training rows (text alone); sigmoid on the CV "
                  "decisions for P",
        "source": "python -m export.sentiment (scikit-learn LinearSVC, ComplementNB at build time; numpy-only scoring)",
        "training_data": DATA,
        "split": "validation = sha256('<file stem>:<row>') mod 5 == 0 (row: 0-based data row), never trained or "
                 "tuned on; English trained on text alone and on 'title. text', validated on text alone",
        "data_licence": "no licence stated; research use only",
        "built_on": f"{platform.machine()}, {platform.python_version()}",
        "files": files,
    }
    (out / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=110))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/reviews"))
    parser.add_argument("--out", type=Path, default=models_dir())
    args = parser.parse_args()
    manifest = build(args.data, args.out)
    for lang, item in manifest["files"].items():
        print(lang, item["validation"], item["training"]["seconds"], "s to fit")


if __name__ == "__main__":
    main()
