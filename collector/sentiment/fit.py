"""Fit the learned model: TF-IDF blocks (sublinear tf), a class-balanced linear SVM and a complement naive Bayes
model on the same features, blended (the naive Bayes decision rescaled to the SVM's cross-validated mean and
spread, then a weighted mean of the two). Both are linear in the features, so the blend is one linear model. The
SVM's C, the naive Bayes smoothing, the blend weight and the decision threshold are chosen by grouped
cross-validation on the training rows only (balanced accuracy on the rows as they are scored: text alone), and a
sigmoid fitted on the cross-validated decisions turns the blend into P(positive), 0.5 at the chosen threshold.
scikit-learn is needed to fit only; scoring needs numpy (:mod:`collector.sentiment.model`).

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
NB_ALPHA: dict[str, tuple[float, ...]] = {"en": (0.01, 0.03, 0.1), "zh": (0.01, 0.03, 0.1)}
NB_WEIGHT = tuple(i / 10 for i in range(9))  #: candidate weights of the naive Bayes model in the blend
OFFSETS = np.round(np.arange(-0.5, 0.51, 0.05), 2)  #: candidate decision thresholds
FOLDS = 4


@dataclass
class FitReport:
    lang: str
    rows: int
    texts: int
    c: float = 0.0
    nb_alpha: float = 0.0
    nb_weight: float = 0.0
    threshold: float = 0.0
    cv_balanced_accuracy: float = 0.0
    cv: dict[float, float] = field(default_factory=dict)  # C to the SVM alone's best cross-validated accuracy
    cv_blend: dict[str, float] = field(default_factory=dict)  # "alpha,weight" to the blend's (the chosen C)
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


def _naive_bayes(x: Any, y: np.ndarray, alpha: float) -> np.ndarray:
    """Complement naive Bayes weights: its decision (log-odds of positive) is ``x @ weights``, no intercept."""
    from sklearn.naive_bayes import ComplementNB

    log_prob = ComplementNB(alpha=alpha).fit(x, y).feature_log_prob_
    return np.asarray(log_prob[1] - log_prob[0])


def _best_threshold(y: np.ndarray, decision: np.ndarray) -> tuple[float, float]:
    """The best balanced accuracy over :data:`OFFSETS` and its threshold (ties: the one nearest 0)."""
    accuracy, _, offset = max((balanced_accuracy(y, decision >= t), -abs(t), float(t)) for t in OFFSETS)
    return accuracy, offset


@dataclass(frozen=True)
class Blend:
    """``(1 - weight) * svm + weight * (scale * nb + shift)``: naive Bayes rescaled to the SVM's mean and spread."""

    weight: float
    scale: float
    shift: float

    @classmethod
    def of(cls, weight: float, svm: np.ndarray, nb: np.ndarray) -> Blend:
        scale = float(svm.std() / nb.std()) if nb.std() > 0 else 0.0
        return cls(weight, scale, float(svm.mean() - scale * nb.mean()))

    def __call__(self, svm: np.ndarray, nb: np.ndarray) -> np.ndarray:
        return (1 - self.weight) * svm + self.weight * (self.scale * nb + self.shift)


def _cross_validate(x: Any, y: np.ndarray, groups: np.ndarray, scored: np.ndarray, lang: str, report: FitReport,
                    domains: tuple[np.ndarray, np.ndarray, int] | None) -> tuple[np.ndarray, Blend]:
    """Choose C, the naive Bayes smoothing and weight and the threshold (balanced accuracy on the ``scored``
    rows); returns the chosen blend's out-of-fold decisions and the blend. ``domains``: (codes, classifier
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

    def out_of_fold(decide: Any) -> np.ndarray:
        decision = np.zeros(len(y))
        for (train, test), (x_train, x_test) in zip(folds, matrices, strict=True):
            decision[test] = decide(x_train, y[train], x_test)
        return decision

    best_svm: tuple[float, float, np.ndarray] | None = None
    for c in C_GRID[lang]:
        decision = out_of_fold(lambda a, b, t, c=c: _svm(c).fit(a, b).decision_function(t))
        report.cv[c] = _best_threshold(y[scored], decision[scored])[0]
        if best_svm is None or report.cv[c] > best_svm[0]:
            best_svm = (report.cv[c], c, decision)
    assert best_svm is not None
    _, report.c, svm = best_svm
    best: tuple[float, float, float, Blend, np.ndarray] | None = None
    for alpha in NB_ALPHA[lang]:
        nb = out_of_fold(lambda a, b, t, alpha=alpha: t @ _naive_bayes(a, b, alpha))
        for weight in NB_WEIGHT:
            blend = Blend.of(weight, svm, nb)
            decision = blend(svm, nb)
            accuracy, offset = _best_threshold(y[scored], decision[scored])
            report.cv_blend[f"{alpha},{weight}"] = accuracy
            if best is None or accuracy > best[0]:
                best = (accuracy, alpha, offset, blend, decision)
    assert best is not None
    report.cv_balanced_accuracy, report.nb_alpha, report.threshold, blend, decision = best
    report.nb_weight = blend.weight
    return decision, blend


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
    scored = np.arange(len(texts)) < len(data.text)  # the text alone (training_texts puts the titled forms after)
    decision, blend = _cross_validate(x, y, groups, scored, lang, report, domains)
    platt = LogisticRegression(fit_intercept=False, class_weight="balanced").fit(
        (decision - report.threshold)[:, None], y)
    slope = float(platt.coef_[0, 0])
    if slope <= 0:  # cross-validation learned nothing (a tiny or degenerate file): the SVM as it is
        slope, report.threshold = 1.0, 0.0
    x_fit = x if domains is None else _augment(x, domains[0], domains[2])
    svm = _svm(report.c).fit(x_fit, y)
    nb = _naive_bayes(x_fit, y, report.nb_alpha)
    coef = slope * ((1 - blend.weight) * svm.coef_.ravel() + blend.weight * blend.scale * nb)
    blocks, at = [], 0
    for (name, _, _), v in zip(BLOCKS[lang], vectorizers, strict=True):
        vocab = {str(t): int(j) for t, j in v.vocabulary_.items()}
        blocks.append(Block(name, vocab, np.asarray(v.idf_, dtype=np.float64), coef[at:at + len(vocab)]))
        at += len(vocab)
    report.seconds = time.perf_counter() - start
    meta = {"c": str(report.c), "nb_alpha": str(report.nb_alpha), "nb_weight": str(report.nb_weight),
            "threshold": str(report.threshold), "slope": f"{slope:.4f}",
            "rows": str(report.rows), "texts": str(report.texts),
            "cv_balanced_accuracy": f"{report.cv_balanced_accuracy:.4f}"}
    intercept = slope * ((1 - blend.weight) * float(svm.intercept_[0]) + blend.weight * blend.shift - report.threshold)
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
