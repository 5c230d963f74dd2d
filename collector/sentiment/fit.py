"""Fit the learned model: TF-IDF blocks (sublinear tf) and a class-balanced linear SVM. Its C and decision
threshold are chosen by grouped cross-validation on the training rows only (balanced accuracy), and a sigmoid
fitted on the cross-validated decisions turns it into P(positive), 0.5 at the chosen threshold. scikit-learn is
needed to fit only; scoring needs numpy (:mod:`collector.sentiment.model`).

Where every training review has a domain (the Chinese set's product category) and the model has one block, the
features are augmented per domain (each term once shared and once for its domain: what a word means can depend on
the product) and a linear classifier, trained on the same rows, picks the domain of a text at scoring time; in
cross-validation the held-out fold's domains are predicted by a classifier fitted on the other folds, as at
scoring time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collector.sentiment.datasets import Labelled
from collector.sentiment.evaluate import balanced_accuracy
from collector.sentiment.features import ANALYZERS
from collector.sentiment.model import Block, Domains, SentimentModel

#: per language, the analyzers with their minimum document frequency and vocabulary cap
BLOCKS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "en": (("en_words", 2, 80_000), ("en_chars", 3, 150_000)),
    "zh": (("zh_chars", 2, 200_000),),
}
C_GRID: dict[str, tuple[float, ...]] = {"en": (0.02, 0.03, 0.05, 0.1), "zh": (0.1, 0.2, 0.4, 0.8)}
DOMAIN_COLUMNS, DOMAIN_C = 30_000, 0.5  #: the domain classifier reads the most frequent terms
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


def _domain_codes(data: Labelled, lang: str) -> tuple[list[str], np.ndarray] | None:
    """Domain names and each review's domain index, when the model can use them (see the module's doc)."""
    if len(BLOCKS[lang]) != 1 or not len(data.domain) or (data.domain == "").any():
        return None
    names = sorted(set(data.domain.tolist()))
    return names, np.searchsorted(np.array(names), data.domain)


def _augment(x: Any, codes: np.ndarray, k: int) -> Any:
    import scipy.sparse as sp

    return sp.hstack([x] + [sp.diags((codes == d).astype(np.float32)) @ x for d in range(k)]).tocsr()


def _domain_classifier(x: Any, codes: np.ndarray, cols: np.ndarray) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=DOMAIN_C, max_iter=5000, random_state=0).fit(x[:, cols], codes)


def _cross_validate(x: Any, y: np.ndarray, groups: np.ndarray, lang: str, report: FitReport,
                    domains: tuple[np.ndarray, np.ndarray, int] | None) -> np.ndarray:
    """Choose C and the threshold; returns the chosen C's out-of-fold decisions. ``domains``: (codes, classifier
    columns, count) for a domain-augmented model."""
    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(FOLDS).split(x, y, groups))
    matrices = []
    for train, test in folds:
        if domains is None:
            matrices.append((x[train], x[test]))
        else:
            codes, cols, k = domains
            guessed = _domain_classifier(x[train], codes[train], cols).predict(x[test][:, cols])
            matrices.append((_augment(x[train], codes[train], k), _augment(x[test], guessed, k)))
    best: tuple[float, float, float, np.ndarray] | None = None
    for c in C_GRID[lang]:
        decision = np.zeros(len(y))
        for (train, test), (x_train, x_test) in zip(folds, matrices, strict=True):
            decision[test] = _svm(c).fit(x_train, y[train]).decision_function(x_test)
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
    found = _domain_codes(data, lang) if len(texts) == len(data.text) else None
    domains = None
    if found is not None:
        cols = np.sort(np.argsort(-np.diff(x.tocsc().indptr), kind="stable")[:DOMAIN_COLUMNS])
        domains = (found[1], cols, len(found[0]))
    decision = _cross_validate(x, y, groups, lang, report, domains)
    platt = LogisticRegression(fit_intercept=False, class_weight="balanced").fit(
        (decision - report.threshold)[:, None], y)
    slope = float(platt.coef_[0, 0])
    if slope <= 0:  # cross-validation learned nothing (a tiny or degenerate file): the SVM as it is
        slope, report.threshold = 1.0, 0.0
    svm = _svm(report.c).fit(x if domains is None else _augment(x, domains[0], domains[2]), y)
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
    extra = None
    if domains is not None and found is not None:
        codes, cols, k = domains
        classifier = _domain_classifier(x, codes, cols)
        weights, bias = classifier.coef_, classifier.intercept_
        if k == 2:  # one row for two classes: the second's score; the first's is its negation
            weights, bias = np.vstack([-weights, weights]), np.concatenate([-bias, bias])
        size = x.shape[1]
        extra = Domains(found[0], cols, weights, bias, coef[size:].reshape(k, size))
        meta["domains"] = ",".join(found[0])
    return SentimentModel(lang, blocks, intercept, meta, extra), report
