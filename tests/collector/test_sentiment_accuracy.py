"""Balanced accuracy of the shipped models on the validation split of ../shared/data/reviews (never trained or
tuned on; skipped where the data set is absent): at least the issue's baselines measured on this split's
counterpart, and exactly what the manifest records (the shipped files are the ones that were measured).

English scores 0.927 on review text alone: the floor is the issue's target for the withheld fifth, 0.92. Chinese
scores 0.939, short of the issue's 0.94: its floor stays 0.935; see docs/sentiment.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.sentiment import lexicon
from collector.sentiment.datasets import is_validation, load_labelled
from collector.sentiment.evaluate import balanced_accuracy
from collector.sentiment.scorer import models_dir, score

FILES = {"en": "clothing-reviews-en.csv", "zh": "online-shopping-zh.csv"}
#: floors: the word/character TF-IDF + logistic-regression baselines on this split are 0.882 (en) and 0.933 (zh)
FLOOR = {"en": 0.92, "zh": 0.935}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_validation_balanced_accuracy(shared_data: Path, lang: str) -> None:
    data = load_labelled(shared_data / "reviews" / FILES[lang])
    val = data.take(is_validation(data.name, data.row))
    manifest = yaml.safe_load((models_dir() / "sentiment.yaml").read_text())["files"][lang]["validation"]
    assert len(val.text) == manifest["rows"]
    learned = balanced_accuracy(val.label, score(list(val.text), None).p)  # language detected per row
    assert learned >= FLOOR[lang]
    assert learned == pytest.approx(manifest["learned_balanced_accuracy"], abs=6e-4)
    lex = balanced_accuracy(val.label, lexicon.score(list(val.text), lang))
    assert lex == pytest.approx(manifest["lexicon_balanced_accuracy"], abs=6e-4)
    assert lex < learned
