"""Roll-up maths: the Wilson interval (closed forms, symmetry, coverage by simulation), aspect counts and mean
polarity, the recommender's multiplier; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from collector.sentiment.rollup import MIN_WEIGHT, WELL_REVIEWED, product, products, substitute_weights, wilson
from collector.store import Store

Z = 1.959964


def test_wilson_closed_forms_and_symmetry() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(Z * Z / (10 + Z * Z), abs=1e-9)  # the 0-of-n upper bound
    low, high = wilson(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(10 / (10 + Z * Z), abs=1e-9)
    for k, n in [(3, 7), (40, 100), (1, 2)]:
        a, b = wilson(k, n)
        c, d = wilson(n - k, n)
        assert a == pytest.approx(1 - d) and b == pytest.approx(1 - c)
        assert a < k / n < b
    assert wilson(50, 100)[1] - wilson(50, 100)[0] > wilson(500, 1000)[1] - wilson(500, 1000)[0]


@pytest.mark.parametrize(("p", "n"), [(0.3, 20), (0.8, 50), (0.5, 200)])
def test_wilson_covers_about_95_percent(p: float, n: int) -> None:
    rng = np.random.default_rng(7)
    hits = [lo <= p <= hi for lo, hi in (wilson(int(k), n) for k in rng.binomial(n, p, 4000))]
    assert 0.93 <= float(np.mean(hits)) <= 0.975


def _add(store: Store, sku: str, labels: list[str], aspects: list[list[tuple[str, float]]], store_id: str = "s1",
         start: int = 0) -> None:
    with store.write() as cur:
        for i, (label, asp) in enumerate(zip(labels, aspects, strict=True)):
            cur.execute(store.sql("INSERT INTO reviews (store, id, sku, ts, text, rating, lang, label, score, "
                                  "aspects, source, stored) VALUES (?, ?, ?, ?, ?, NULL, 'en', ?, ?, ?, 'test', 0)"),
                        (store_id, f"{sku}-{start + i}", sku, float(start + i), f"review {i}", label,
                         0.9 if label == "positive" else 0.1, json.dumps([list(a) for a in asp])))


def test_products_and_aspects(store: Store) -> None:
    _add(store, "tea", ["positive", "negative", "positive", "positive"],
         [[("taste", 0.8)], [("taste", -0.6), ("price", -0.9)], [], [("price", 0.5), ("taste", 1.0)]])
    _add(store, "milk", ["negative"], [[]])
    _add(store, "tea", ["negative"], [[]], store_id="s2")
    listed = products(store, "s1")
    assert [p["sku"] for p in listed] == ["milk", "tea"]
    tea = listed[1]
    assert tea["n"] == 4 and tea["score"] == 0.75
    assert (tea["ci_low"], tea["ci_high"]) == tuple(round(v, 4) for v in wilson(3, 4))
    assert tea["aspects"] == [{"aspect": "taste", "mentions": 3, "polarity": round((0.8 - 0.6 + 1.0) / 3, 4)},
                              {"aspect": "price", "mentions": 2, "polarity": -0.2}]
    detail = product(store, "s1", "tea", latest=2)
    assert [r["id"] for r in detail["reviews"]] == ["tea-3", "tea-2"]
    empty = product(store, "s1", "bread")
    assert empty["n"] == 0 and empty["score"] is None and empty["reviews"] == [] and empty["aspects"] == []


def test_substitute_weights(store: Store) -> None:
    _add(store, "good", ["positive"] * 20, [[]] * 20)
    _add(store, "bad", ["negative"] * 20, [[]] * 20)
    _add(store, "few", ["negative"] * 2, [[]] * 2)  # two bad reviews: too few to be sure
    w = substitute_weights(store, "s1")
    assert w["good"] == 1.0 and w["few"] == 1.0
    assert w["bad"] == pytest.approx(max(MIN_WEIGHT, wilson(0, 20)[1] / WELL_REVIEWED), abs=1e-3)
    assert w["bad"] < 0.5
    assert math.isclose(substitute_weights(store, "s2").get("bad", 1.0), 1.0)


def test_import_scores_and_keeps_the_first_of_a_review_id(store: Store) -> None:
    rows = [("s1", "a", "tea", 1.0, "Lovely flavour, fair price", 5.0, None, "csv"),
            ("s1", "a", "tea", 2.0, "a later copy of a", 5.0, None, "csv"),
            ("s2", "a", "tea", 3.0, "味道很差，太贵了", None, None, "csv")]
    assert store.import_reviews(rows) == 2  # (s1, a) once; (s2, a) is another store's review
    assert store.import_reviews(rows[:1]) == 0
    stored = {(r["store"], r["id"]): r for r in store.rows("SELECT store, id, text, lang, label, aspects FROM reviews")}
    assert stored[("s1", "a")]["text"].startswith("Lovely") and stored[("s1", "a")]["label"] == "positive"
    assert stored[("s2", "a")]["lang"] == "zh" and stored[("s2", "a")]["label"] == "negative"
    assert {a for a, _ in json.loads(stored[("s2", "a")]["aspects"])} == {"taste", "price"}
