"""Fit the learned model: TF-IDF blocks (sublinear tf) and a class-balanced linear SVM. Its C and decision
threshold are chosen by grouped cross-validation on the training rows only (balanced accuracy), and a sigmoid
fitted on the cross-validated decisions turns it into P(positive), 0.5 at the chosen threshold. scikit-learn is
needed to fit only; scoring needs numpy (:mod:`collector.sentiment.model`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collector.sentiment.datasets import Labelled
from collector.sentiment.evaluate import balanced_accuracy
from collector.sentiment.features import ANALYZERS
from collector.sentiment.model import Block, SentimentModel

#: per language, the analyzers with their minimum document frequency and vocabulary cap
BLOCKS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "en": (("en_words", 2, 80_000), ("en_chars", 3, 150_000)),
    "zh": (("zh_chars", 2, 200_000),),
}
C_GRID: dict[str, tuple[float, ...]] = {"en": (0.02, 0.03, 0.05, 0.1), "zh": (0.1, 0.2, 0.4, 0.8)}
OFFSETS = np.round(np.arange(-0.3, 0.31, 0.05), 2)  #: candidate decision thresholds
FOLDS = 4


@dataclass
class FitReport:
    lang: str
    rows: int
    texts: int
    c: float = 0.0
    threshold: float = 0.0
    cv_balanced_accuracy: float = 0.0
    cv: dict[float, float] = field(default_factory=dict)  # C to its best cross-validated balanced accuracy
    seconds: float = 0.0


def training_texts(data: Labelled) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every review as its text alone, and again as ``title. text`` where it has a title (scored files may come
    either way); returns texts, labels and the row each came from (the groups for cross-validation)."""
    texts, labels, groups = list(data.text), list(data.label), list(data.row)
    for text, title, label, row in zip(data.text, data.title, data.label, data.row, strict=True):
        if title.strip():
            texts.append(f"{title.strip()}. {text}")
            labels.append(label)
            groups.append(row)
    return texts, np.asarray(labels), np.asarray(groups)


def _vectorizers(lang: str) -> list[Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return [TfidfVectorizer(analyzer=ANALYZERS[name], sublinear_tf=True, min_df=min_df, max_features=cap,
                            dtype=np.float32) for name, min_df, cap in BLOCKS[lang]]


def _svm(c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, class_weight="balanced", max_iter=5000, random_state=0)  # liblinear shuffles: pinned


def _cross_validate(x: Any, y: np.ndarray, groups: np.ndarray, lang: str, report: FitReport) -> np.ndarray:
    """Choose C and the threshold; returns the chosen C's out-of-fold decisions."""
    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(FOLDS).split(x, y, groups))
    best: tuple[float, float, float, np.ndarray] | None = None
    for c in C_GRID[lang]:
        decision = np.zeros(len(y))
        for train, test in folds:
            decision[test] = _svm(c).fit(x[train], y[train]).decision_function(x[test])
        accuracy, _, offset = max((balanced_accuracy(y, decision >= t), -abs(t), float(t)) for t in OFFSETS)  # ties: 0
        report.cv[c] = accuracy
        if best is None or accuracy > best[0]:
            best = (accuracy, c, offset, decision)
    assert best is not None
    report.cv_balanced_accuracy, report.c, report.threshold = best[0], best[1], best[2]
    return best[3]


def fit(data: Labelled, lang: str) -> tuple[SentimentModel, FitReport]:
    """Fit on every row of ``data`` (the caller keeps validation rows out)."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    texts, y, groups = training_texts(data)
    vectorizers = _vectorizers(lang)
    x = sp.hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
    report = FitReport(lang, len(data.text), len(texts))
    decision = _cross_validate(x, y, groups, lang, report)
    platt = LogisticRegression(fit_intercept=False, class_weight="balanced").fit(
        (decision - report.threshold)[:, None], y)
    slope = float(platt.coef_[0, 0])
    svm = _svm(report.c).fit(x, y)
    coef, blocks, at = svm.coef_.ravel() * slope, [], 0
    for (name, _, _), v in zip(BLOCKS[lang], vectorizers, strict=True):
        vocab = {str(t): int(j) for t, j in v.vocabulary_.items()}
        blocks.append(Block(name, vocab, np.asarray(v.idf_, dtype=np.float64), coef[at:at + len(vocab)]))
        at += len(vocab)
    report.seconds = time.perf_counter() - start
    meta = {"c": str(report.c), "threshold": str(report.threshold), "slope": f"{slope:.4f}",
            "rows": str(report.rows), "texts": str(report.texts),
            "cv_balanced_accuracy": f"{report.cv_balanced_accuracy:.4f}"}
    intercept = slope * (float(svm.intercept_[0]) - report.threshold)
    return SentimentModel(lang, blocks, intercept, meta), report
