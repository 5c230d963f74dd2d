"""Entry points for the CLI: fit a recommender file, query baskets or substitutes."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from collector.recommend.data import BasketInputError, load_baskets, read_baskets, to_baskets
from collector.recommend.recommender import Recommender, load_embeddings


def fit_command(args: argparse.Namespace) -> int:
    baskets = load_baskets(args.transactions)
    emb = load_embeddings(args.embeddings) if args.embeddings else None
    model = Recommender.fit(baskets, lam=args.lam, embeddings=emb)
    model.save(args.out)
    ctx = "with hour/weekday context" if baskets.hour is not None else "without timestamps (no context)"
    print(f"{args.transactions}: {baskets.n} baskets, {baskets.items.size} items, {ctx}; model written to {args.out}")
    return 0


def _at(text: str | None) -> pd.Timestamp | None:
    if not text:
        return None
    try:
        return pd.Timestamp(text)
    except ValueError as exc:
        raise BasketInputError(f"--at {text!r}: not a timestamp (use e.g. 2017-03-04T09:30)") from exc


def query_command(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise BasketInputError(f"--k must be at least 1, got {args.k}")
    model = Recommender.load(args.model)
    if args.substitutes:
        subs = model.substitutes(args.substitutes, args.k)
        out: object = {"sku": args.substitutes, "substitutes": [{"item": i, "score": s} for i, s in subs]}
        lines = [f"{i}\t{s:.4f}" for i, s in subs]
    elif args.basket is not None:
        items = [i.strip() for i in args.basket.split(",") if i.strip()]
        if not items:
            raise BasketInputError("--basket is empty: give items separated by commas")
        res = model.basket(items, args.k, _at(args.at))
        if not res["basket"]:
            raise BasketInputError(f"no item of the basket is known to the model: {', '.join(items)}")
        out = res
        lines = [f"{r['item']}\t{r['score']:.4f}" for r in res["recommendations"]]  # type: ignore[attr-defined]
        if res["unknown"]:
            lines.insert(0, f"(unknown items ignored: {', '.join(res['unknown'])})")  # type: ignore[arg-type]
    else:
        raw = read_baskets(args.baskets)
        baskets = to_baskets(raw, str(args.baskets), items=model.items)
        recs = model.recommend(baskets, args.k)
        out = [{"transaction_id": str(t), "recommendations": [{"item": i, "score": s} for i, s in r]}
               for t, r in zip(baskets.ids, recs, strict=True)]
        lines = [f"{t}\t" + ", ".join(i for i, _ in r) for t, r in zip(baskets.ids, recs, strict=True)]
    print(json.dumps(out) if args.json else "\n".join(lines))
    return 0
