"""One review in, its sentiment and aspects out: the text scored as a whole, each aspect mention scored by its
clause (polarity = 2 P(positive) - 1, in [-1, 1]), with the same scorer and language as the text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.sentiment.aspects import mentions
from collector.sentiment.features import detect_lang
from collector.sentiment.scorer import score


@dataclass(frozen=True, slots=True)
class Analysis:
    lang: str
    label: str
    score: float  # P(positive)
    aspects: tuple[tuple[str, float], ...]  # (aspect, polarity) per mention


def analyse(texts: Sequence[str], langs: Sequence[str | None] | None = None, method: str = "learned",
            models: Path | None = None) -> list[Analysis]:
    """Score ``texts`` (``langs``: per text ``en``/``zh`` or None to detect) and their aspect clauses."""
    langs_used = [lang or detect_lang(text) for text, lang in
                  zip(texts, list(langs) if langs is not None else [None] * len(texts), strict=True)]
    per_lang: dict[str, list[int]] = {}
    for i, lang in enumerate(langs_used):
        per_lang.setdefault(lang, []).append(i)
    p = [0.0] * len(texts)
    hits: list[list[tuple[str, str]]] = [mentions(t, lc) for t, lc in zip(texts, langs_used, strict=True)]
    polarity: list[list[float]] = [[] for _ in texts]
    for lang, idx in per_lang.items():
        clause_rows = [(i, clause) for i in idx for _, clause in hits[i]]
        scored = score([texts[i] for i in idx] + [c for _, c in clause_rows], lang, method, models).p
        for k, i in enumerate(idx):
            p[i] = float(scored[k])
        for (i, _), v in zip(clause_rows, scored[len(idx):], strict=True):
            polarity[i].append(round(2 * float(v) - 1, 4))
    return [Analysis(lang, "positive" if pi >= 0.5 else "negative", pi,
                     tuple((a, v) for (a, _), v in zip(hit, pol, strict=True)))
            for lang, pi, hit, pol in zip(langs_used, p, hits, polarity, strict=True)]
