"""Per-product sentiment from the stored reviews: the share of positive reviews with a 95% Wilson interval, the
number of reviews, the aspects mentioned (mentions, mean polarity) and the latest reviews; and the multiplier
the recommender applies to a poorly reviewed substitute."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from collector.store import Store

Z95 = 1.959964
#: a substitute whose interval's upper end lies below this share positive is down-weighted in proportion
WELL_REVIEWED = 0.6
MIN_WEIGHT = 0.2


def wilson(positive: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``positive`` of ``n`` (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = positive / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _aspects(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    sums: dict[str, list[float]] = {}
    for row in rows:
        for aspect, polarity in json.loads(row["aspects"]):
            acc = sums.setdefault(aspect, [0, 0.0])
            acc[0] += 1
            acc[1] += polarity
    return [{"aspect": a, "mentions": int(m), "polarity": round(s / m, 4)}
            for a, (m, s) in sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def _summary(sku: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    positive = sum(1 for r in rows if r["label"] == "positive")
    low, high = wilson(positive, n)
    return {"sku": sku, "n": n, "score": round(positive / n, 4) if n else None, "ci_low": round(low, 4),
            "ci_high": round(high, 4), "aspects": _aspects(rows)}


def _by_sku(store: Store, store_id: str, sku: str | None = None) -> dict[str, list[dict[str, Any]]]:
    where, params = ("store = ? AND sku = ?", (store_id, sku)) if sku is not None else ("store = ?", (store_id,))
    out: dict[str, list[dict[str, Any]]] = {}
    for row in store.rows(f"SELECT id, sku, ts, text, label, score, aspects FROM reviews WHERE {where} "
                          "ORDER BY sku, ts DESC, id", params):
        out.setdefault(row["sku"], []).append(row)
    return out


def products(store: Store, store_id: str) -> list[dict[str, Any]]:
    """Every reviewed product of ``store_id``, by sku: ``sku, n, score, ci_low, ci_high, aspects``."""
    return [_summary(sku, rows) for sku, rows in _by_sku(store, store_id).items()]


def product(store: Store, store_id: str, sku: str, latest: int = 10) -> dict[str, Any]:
    """One product's summary and its ``latest`` reviews (``id, ts, label, score, text``); n 0 when unreviewed."""
    rows = _by_sku(store, store_id, sku).get(sku, [])
    out = _summary(sku, rows)
    out["reviews"] = [{"id": r["id"], "ts": r["ts"], "label": r["label"], "score": round(r["score"], 4),
                       "text": r["text"]} for r in rows[:latest]]
    return out


def substitute_weights(store: Store, store_id: str) -> dict[str, float]:
    """Per reviewed sku, a multiplier in [MIN_WEIGHT, 1]: 1 unless the Wilson upper bound of its share positive is
    below :data:`WELL_REVIEWED` (confidently poorly reviewed), then that bound over WELL_REVIEWED."""
    return {s["sku"]: max(MIN_WEIGHT, min(1.0, s["ci_high"] / WELL_REVIEWED)) for s in products(store, store_id)}
