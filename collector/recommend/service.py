"""Entry points for the CLI: fit a recommender file, query baskets or substitutes (typed arguments; the results
come back as data, which the CLI prints)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from collector.recommend.data import BasketInputError, load_baskets, read_baskets, to_baskets
from collector.recommend.recommender import Recommender, load_embeddings


def fit(transactions: Path, out: Path, embeddings: Path | None = None, lam: float = 50.0) -> str:
    """Fit on the basket lines in ``transactions`` (optionally SKU image ``embeddings``), save to ``out``; returns
    the one-line summary."""
    baskets = load_baskets(transactions)
    emb = load_embeddings(embeddings) if embeddings else None
    model = Recommender.fit(baskets, lam=lam, embeddings=emb)
    model.save(out)
    ctx = "with hour/weekday context" if baskets.hour is not None else "without timestamps (no context)"
    return f"{transactions}: {baskets.n} baskets, {baskets.items.size} items, {ctx}; model written to {out}"


def _at(text: str | None) -> pd.Timestamp | None:
    if not text:
        return None
    try:
        return pd.Timestamp(text)
    except ValueError as exc:
        raise BasketInputError(f"--at {text!r}: not a timestamp (use e.g. 2017-03-04T09:30)") from exc


def query(model_path: Path, k: int = 10, basket: str | None = None, baskets: Path | None = None,
          substitutes: str | None = None, at: str | None = None) -> tuple[list[dict[str, object]], list[str]]:
    """Substitutes for a SKU, recommendations for one ``basket`` (comma list, at time ``at``), or for every basket
    in the CSV ``baskets``; returns (the JSON records: one per SKU or basket, what ``--json`` prints one per line,
    and the text lines)."""
    if k < 1:
        raise BasketInputError(f"--k must be at least 1, got {k}")
    model = Recommender.load(model_path)
    if substitutes:
        subs = model.substitutes(substitutes, k)
        out: list[dict[str, object]] = [{"sku": substitutes, "substitutes": [{"item": i, "score": s} for i, s in subs]}]
        lines = [f"{i}\t{s:.4f}" for i, s in subs]
    elif basket is not None:
        items = [i.strip() for i in basket.split(",") if i.strip()]
        if not items:
            raise BasketInputError("--basket is empty: give items separated by commas")
        res = model.basket(items, k, _at(at))
        if not res["basket"]:
            raise BasketInputError(f"no item of the basket is known to the model: {', '.join(items)}")
        out = [res]
        lines = [f"{r['item']}\t{r['score']:.4f}" for r in res["recommendations"]]  # type: ignore[attr-defined]
        if res["unknown"]:
            lines.insert(0, f"(unknown items ignored: {', '.join(res['unknown'])})")  # type: ignore[arg-type]
    else:
        assert baskets is not None, "give basket, baskets or substitutes"
        raw = read_baskets(baskets)
        found = to_baskets(raw, str(baskets), items=model.items)
        recs = model.recommend(found, k)
        out = [{"transaction_id": str(t), "recommendations": [{"item": i, "score": s} for i, s in r]}
               for t, r in zip(found.ids, recs, strict=True)]
        lines = [f"{t}\t" + ", ".join(i for i, _ in r) for t, r in zip(found.ids, recs, strict=True)]
    return out, lines
