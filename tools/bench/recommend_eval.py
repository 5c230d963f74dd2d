"""Leave-one-out evaluation of the recommenders on the bakery baskets, and the 1M-line fitting time.

    .venv/bin/python tools/bench/recommend_eval.py            # HR@10 / NDCG@10 over 5 seeds, every model
    .venv/bin/python tools/bench/recommend_eval.py --speed    # fit the shipped model on 1,000,000 basket lines
    .venv/bin/python tools/bench/recommend_eval.py --models all   # also NCF (bench/ncf.py, torch), tuned on train only

Protocol: baskets ordered by time, first 80% train, last 20% test; from each test basket with 2+ distinct items
one random item (seed 0..4) is hidden, the rest is the query; items already in the query are never recommended.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's ALS asks for it

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collector.recommend.data import Baskets, to_baskets
from collector.recommend.evaluate import hide_one, rank_metrics, split_by_time
from collector.recommend.models import ALS, EASE, SVD, ContextEASE, CoOccurrence, Popularity
from collector.recommend.recommender import Recommender

BAKERY = Path(os.environ.get("SMARTSTORE_SHARED", Path(__file__).resolve().parents[3] / "shared" / "data")) / \
    "bakery" / "BreadBasket_DMS.csv"


def bakery_lines(path: Path = BAKERY) -> pd.DataFrame:
    """The bakery file as basket lines ``transaction_id,item,timestamp`` (``NONE`` rows dropped)."""
    raw = pd.read_csv(path)
    raw = raw[raw["Item"] != "NONE"]
    ts = pd.to_datetime(raw["Date"] + " " + raw["Time"], format="%d-%m-%Y %H:%M:%S")
    return pd.DataFrame({"transaction_id": raw["Transaction"].astype(str), "item": raw["Item"], "timestamp": ts})


MODELS = {"popularity": Popularity, "cooc_cosine": lambda: CoOccurrence("cosine"),
          "cooc_lift": lambda: CoOccurrence("lift"), "ease": EASE, "als": ALS, "svd": SVD, "context_ease": ContextEASE}


def tuned_ncf(train: Baskets, inits: int) -> list[Any]:
    """NCF (bench/ncf.py, torch) with hyper-parameters and epochs chosen on the last 10% of ``train`` baskets,
    once per initialisation seed 0..inits-1."""
    from dataclasses import replace

    from ncf import NCF, tune

    t0 = time.perf_counter()
    model, table = tune(train, NCF())
    print(f"NCF tuning on a validation split of the train baskets ({time.perf_counter() - t0:.0f} s): "
          "params, best epoch, validation HR@10 (5 hidden-item seeds)")
    for params, epochs, hr in table:
        print(f"  {params} epochs {epochs}: {hr:.4f}")
    print(f"  chosen: {model}")
    return [replace(model, seed=i, name=f"ncf (init seed {i})") for i in range(inits)] if inits > 1 else [model]


def evaluate(baskets: Baskets, seeds: int, k: int, share: float = 0.8, names: tuple[str, ...] = tuple(MODELS),
             ncf_inits: int = 1) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    train, test = split_by_time(baskets, share)
    holdouts = [hide_one(test, s) for s in range(seeds)]
    models = [m for n in names for m in (tuned_ncf(train, ncf_inits) if n == "ncf" else [MODELS[n]()])]
    rows = []
    for m in models:
        t0 = time.perf_counter()
        m.fit(train)
        fit_s = time.perf_counter() - t0
        res = [rank_metrics(m.score(h.query), h, k) for h in holdouts]
        rows.append((m.name, np.array([r["hr"] for r in res]), np.array([r["ndcg"] for r in res]), fit_s))
    # the shipped file-backed model must give the same figures as its ContextEASE core
    shipped = Recommender.fit(train)
    hits = []
    for h in holdouts:
        recs = shipped.recommend(h.query, k)
        hits.append(np.mean([str(h.query.items[t]) in {i for i, _ in r} for t, r in zip(h.hidden, recs, strict=True)]))
    rows.append(("shipped (Recommender)", np.array(hits), np.full(seeds, np.nan), 0.0))
    print(f"train {train.n} baskets, test {test.n} baskets, {holdouts[0].query.n} with 2+ items, "
          f"{baskets.items.size} items")
    return rows


def speed(lines: pd.DataFrame, target: int) -> None:
    reps = -(-target // len(lines))
    big = pd.concat([lines.assign(transaction_id=lines["transaction_id"] + f"-{r}",
                                  timestamp=lines["timestamp"] + pd.Timedelta(days=161 * r)) for r in range(reps)],
                    ignore_index=True).iloc[:target]
    t0 = time.perf_counter()
    baskets = to_baskets(big)
    t1 = time.perf_counter()
    Recommender.fit(baskets)
    t2 = time.perf_counter()
    print(f"{len(big):,} basket lines, {baskets.n:,} baskets: load {t1 - t0:.1f} s + fit {t2 - t1:.1f} s "
          f"= {t2 - t0:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--speed", action="store_true", help="time fitting on --lines basket lines instead")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--split", choices=("baskets", "lines"), default="baskets",
                    help="80/20 of baskets (default) or of basket lines, both in time order")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma list of {', '.join([*MODELS, 'ncf'])} (popularity always runs first), or all")
    ap.add_argument("--ncf-inits", type=int, default=1, help="train the tuned NCF with init seeds 0..N-1")
    args = ap.parse_args()
    names = [*MODELS, "ncf"] if args.models == "all" else args.models.split(",")
    unknown = sorted(set(names) - {*MODELS, "ncf"})
    if unknown:
        ap.error(f"--models: unknown model(s) {', '.join(unknown)}")
    names = ["popularity", *(n for n in dict.fromkeys(names) if n != "popularity")]
    if not BAKERY.is_file():
        print(f"missing {BAKERY} (../shared/data)", file=sys.stderr)
        return 2
    lines = bakery_lines()
    if args.speed:
        speed(lines, args.lines)
        return 0
    baskets = to_baskets(lines)
    first_lines = lines["transaction_id"].iloc[: int(0.8 * len(lines))]
    share = 0.8 if args.split == "baskets" else first_lines.nunique() / baskets.n
    rows = evaluate(baskets, args.seeds, args.k, share, tuple(names), args.ncf_inits)
    pop_hr = rows[0][1]
    k, n = args.k, args.seeds
    print(f"| model | HR@{k} mean ± sd ({n} seeds) | NDCG@{k} mean ± sd | HR vs popularity | fit s |")
    print("|---|---|---|---|---|")
    for name, hr, ndcg, fit_s in rows:
        nd = f"{np.mean(ndcg):.4f} ± {np.std(ndcg):.4f}" if np.all(np.isfinite(ndcg)) else "-"
        print(f"| {name} | {np.mean(hr):.4f} ± {np.std(hr):.4f} | {nd} | {np.mean(hr - pop_hr):+.4f} | {fit_s:.2f} |")
    hr_of = {name: hr for name, hr, *_ in rows}
    for name in (n for n in hr_of if n.startswith("ncf") and "context_ease" in hr_of):
        d = hr_of[name] - hr_of["context_ease"]
        print(f"{name} - context_ease HR@{k}, paired over seeds: {np.mean(d):+.4f} ± {np.std(d):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
