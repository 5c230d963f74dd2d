"""Sentiment on the validation split of ../shared/data/reviews, through ``smartstore sentiment score``, and the
time to score 20,000 reviews.

    .venv/bin/python tools/bench/sentiment_eval.py            # balanced accuracy, learned and lexicon, en and zh
    .venv/bin/python tools/bench/sentiment_eval.py --speed    # 20,000 validation reviews (both languages, mixed)

The validation split (:func:`collector.sentiment.datasets.is_validation`, one row in five by a hash of file and
row) is never trained or tuned on; English is scored on the review text alone and, for reference, as
``title. text``. Each file is written as ``id,text`` and scored by the command (a subprocess, the language
detected per row), whose ``id,label,score`` is compared with the labels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collector.sentiment.datasets import Labelled, is_validation, load_labelled
from collector.sentiment.evaluate import balanced_accuracy

REVIEWS = Path(os.environ.get("SMARTSTORE_SHARED", Path(__file__).resolve().parents[3] / "shared" / "data")) / \
    "reviews"
FILES = {"en": "clothing-reviews-en.csv", "zh": "online-shopping-zh.csv"}
SMARTSTORE = [sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())"]


def validation(lang: str, root: Path = REVIEWS) -> Labelled:
    data = load_labelled(root / FILES[lang])
    return data.take(is_validation(data.name, data.row))


def score_cli(texts: list[str], folder: Path, *extra: str) -> tuple[np.ndarray, float]:
    """P(positive) per text from ``smartstore sentiment score`` and its wall time (process start included)."""
    inp, out = folder / "in.csv", folder / "out.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts}).to_csv(inp, index=False)
    start = time.perf_counter()
    subprocess.run([*SMARTSTORE, "sentiment", "score", str(inp), "--out", str(out), *extra], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    scored = pd.read_csv(out, dtype={"id": str})
    assert scored["id"].tolist() == [f"r{i}" for i in range(len(texts))]
    return scored["score"].to_numpy(), seconds


def accuracy() -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in FILES:
            val = validation(lang)
            forms = {"text": list(val.text)}
            if lang == "en":
                forms["title. text"] = [f"{t}. {x}" if t else x for t, x in zip(val.title, val.text, strict=True)]
            for method in ("learned", "lexicon"):
                for form, texts in forms.items():
                    p, seconds = score_cli(texts, Path(tmp), "--method", method)
                    key = f"{lang} {method} ({form}, {len(texts)} reviews)"
                    out[key] = round(balanced_accuracy(val.label, p), 4)
                    print(f"{key}: balanced accuracy {out[key]:.4f} ({seconds:.1f} s)", flush=True)
    return out


def speed(n: int = 20_000) -> dict[str, float]:
    en, zh = validation("en"), validation("zh")
    texts = [*en.text, *zh.text]
    texts = (texts * (n // len(texts) + 1))[:n]
    order = np.random.default_rng(0).permutation(n)
    with tempfile.TemporaryDirectory() as tmp:
        _, seconds = score_cli([texts[i] for i in order], Path(tmp))
    result = {"reviews": n, "seconds": round(seconds, 1), "cpus": os.cpu_count() or 0}
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time 20,000 reviews instead")
    args = parser.parse_args()
    speed() if args.speed else accuracy()


if __name__ == "__main__":
    main()
