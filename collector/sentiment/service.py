"""Entry points for ``smartstore sentiment score|fit|import`` (typed arguments in, one summary line out)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from collector.sentiment.csvio import SentimentInputError, read_csv, write_scores
from collector.sentiment.scorer import score

if TYPE_CHECKING:
    from collector.store import Store
    from collector.store.reviews import ReviewRow


def score_file(inp: Path, out: Path, lang: str | None = None, method: str = "learned",
               models: Path | None = None) -> str:
    """Score ``inp`` (``id,text``) into ``out`` (``id,label,score``)."""
    df = read_csv(inp, ("id", "text"))
    if df.empty:
        raise SentimentInputError(f"{inp}: no reviews (a header line only)")
    start = time.perf_counter()
    result = score(df["text"].tolist(), lang, method, models)
    n = write_scores(out, zip(df["id"], result.labels, result.p, strict=True))
    langs = {code: result.lang.count(code) for code in sorted(set(result.lang))}
    share = sum(label == "positive" for label in result.labels) / n
    return (f"{inp}: {n} reviews scored ({', '.join(f'{k} {v}' for k, v in langs.items())}; {method}) in "
            f"{time.perf_counter() - start:.1f} s, {share:.1%} positive; written to {out}")


def fit_file(data: Path, lang: str, out: Path, holdout: bool = False) -> str:
    """Fit a model on the labelled reviews in ``data`` (``holdout``: leave the validation split out and report
    the model's balanced accuracy on it)."""
    from collector.sentiment.datasets import is_validation, load_labelled
    from collector.sentiment.evaluate import balanced_accuracy
    from collector.sentiment.fit import fit

    reviews = load_labelled(data)
    val = is_validation(reviews.name, reviews.row) if holdout else None
    train = reviews.take(~val) if val is not None else reviews
    if len(set(train.label.tolist())) < 2:
        raise SentimentInputError(f"{data}: the training rows need both positive and negative labels")
    model, report = fit(train, lang)
    model.save(out)
    line = (f"{data}: fitted on {report.rows} reviews ({report.texts} texts) in {report.seconds:.0f} s, C {report.c}, "
            f"cross-validated balanced accuracy {report.cv_balanced_accuracy:.4f}; model written to {out}")
    if val is not None and val.any():
        held = reviews.take(val)
        accuracy = balanced_accuracy(held.label, model.predict(list(held.text)))
        line += f"; balanced accuracy on the validation split ({len(held.text)} reviews): {accuracy:.4f}"
    return line


def _ts(text: str, path: Path, line: int, now: float) -> float:
    if not text.strip():
        return now
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SentimentInputError(f"{path}: line {line}: ts {text!r} is neither ISO 8601 nor epoch seconds") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def read_reviews(path: Path, store_id: str, source: str = "csv") -> list[ReviewRow]:
    """Rows of a review CSV: ``id, sku, text`` and optional ``rating``, ``ts`` (ISO or epoch; default now),
    ``lang`` (``en``/``zh``; default detected)."""
    df = read_csv(path, ("id", "sku", "text"))
    if df.empty:
        raise SentimentInputError(f"{path}: no reviews (a header line only)")
    now, rows = time.time(), []
    for i, r in enumerate(df.to_dict("records"), start=2):
        if not r["id"].strip() or not r["sku"].strip() or not r["text"].strip():
            raise SentimentInputError(f"{path}: line {i}: id, sku and text must not be empty")
        try:
            rating = float(r["rating"]) if r.get("rating", "").strip() else None
        except ValueError:
            raise SentimentInputError(f"{path}: line {i}: rating {r['rating']!r} is not a number") from None
        lang = r.get("lang", "").strip() or None
        if lang not in (None, "en", "zh"):
            raise SentimentInputError(f"{path}: line {i}: lang {lang!r} is not en or zh")
        rows.append((store_id, r["id"].strip(), r["sku"].strip(), _ts(r.get("ts", ""), path, i, now), r["text"],
                     rating, lang, source))
    return rows


def import_file(path: Path, store_id: str, store: Store) -> str:
    rows = read_reviews(path, store_id)
    added = store.import_reviews(rows)
    return f"{path}: {len(rows)} reviews read, {added} new (scored and stored), {len(rows) - added} already stored"
