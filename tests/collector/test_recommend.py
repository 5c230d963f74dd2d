"""Recommender: loading, the EASE closed form, leave-one-out protocol, context gain on real baskets, substitutes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from collector.recommend.data import BasketInputError, load_baskets, to_baskets
from collector.recommend.evaluate import hide_one, rank_metrics, split_by_time
from collector.recommend.models import EASE, ContextEASE, CoOccurrence, Popularity, ease_weights
from collector.recommend.recommender import Recommender, load_embeddings


def _lines(baskets: list[list[str]], hours: list[int] | None = None) -> pd.DataFrame:
    rows = []
    for t, items in enumerate(baskets):
        ts = pd.Timestamp("2024-03-04") + pd.Timedelta(hours=(hours[t] if hours else 9), minutes=t % 60)
        rows += [{"transaction_id": f"t{t}", "item": i, "timestamp": ts} for i in items]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def bakery(shared_data: Path) -> pd.DataFrame:
    raw = pd.read_csv(shared_data / "bakery" / "BreadBasket_DMS.csv")
    raw = raw[raw["Item"] != "NONE"]
    ts = pd.to_datetime(raw["Date"] + " " + raw["Time"], format="%d-%m-%Y %H:%M:%S")
    return pd.DataFrame({"transaction_id": raw["Transaction"].astype(str), "item": raw["Item"], "timestamp": ts})


def test_bad_basket_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(BasketInputError, match="empty basket file"):
        load_baskets(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("transaction_id,item\n")
    with pytest.raises(BasketInputError, match="no basket lines"):
        load_baskets(tmp_path / "header.csv")
    (tmp_path / "cols.csv").write_text("receipt,sku\n1,a\n")
    with pytest.raises(BasketInputError, match=r"missing column\(s\) transaction_id, item .*found receipt,sku"):
        load_baskets(tmp_path / "cols.csv")
    (tmp_path / "ts.csv").write_text("transaction_id,item,timestamp\n1,a,2024-01-01 10:00\n2,b,soon\n")
    with pytest.raises(BasketInputError, match=r"unparsable timestamp 'soon'.*line 3"):
        load_baskets(tmp_path / "ts.csv")


def test_baskets_are_binary_and_time_ordered() -> None:
    df = _lines([["a", "a", "b"], ["c"]], hours=[15, 8])
    b = to_baskets(df)
    assert b.ids.tolist() == ["t1", "t0"]  # the 08:00 basket comes first
    assert b.matrix.toarray().tolist() == [[0, 0, 1], [1, 1, 0]] and b.hour.tolist() == [8, 15]


def test_ease_closed_form_satisfies_its_optimality_conditions() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((300, 12)) < 0.2).astype(float)
    g, lam = x.T @ x, 5.0
    b = ease_weights(g, lam)
    assert np.allclose(np.diag(b), 0.0)
    # gradient of ||X - XB||^2 + lam ||B||^2 is zero off the diagonal (the diagonal is the constrained part)
    grad = (g + lam * np.eye(12)) @ b - g
    off = ~np.eye(12, dtype=bool)
    assert np.abs(grad[off]).max() < 1e-8


def test_hide_one_protocol() -> None:
    b = to_baskets(_lines([["a", "b", "c"], ["a"], ["b", "d"]]))
    h = hide_one(b, seed=3)
    assert h.query.n == 2  # the single-item basket is skipped
    full = b.matrix.toarray()[[0, 2]]
    q = h.query.matrix.toarray()
    assert np.all(q.sum(axis=1) == full.sum(axis=1) - 1)
    assert np.all(full[np.arange(2), h.hidden] == 1) and np.all(q[np.arange(2), h.hidden] == 0)
    perfect = np.zeros((2, 4))
    perfect[np.arange(2), h.hidden] = 1.0
    assert rank_metrics(perfect, h)["hr"] == 1.0 and rank_metrics(perfect, h)["ndcg"] == 1.0
    assert rank_metrics(-perfect, h, k=1)["hr"] == 0.0


def test_context_and_cooccurrence_beat_popularity_on_bakery(bakery: pd.DataFrame) -> None:
    train, test = split_by_time(to_baskets(bakery.iloc[:12000]))
    models = [Popularity(), CoOccurrence("cosine"), EASE(), ContextEASE()]
    hr = {m.name: [] for m in models}
    for m in models:
        m.fit(train)
        for seed in range(3):
            h = hide_one(test, seed)
            hr[m.name].append(rank_metrics(m.score(h.query), h)["hr"])
    pop = np.mean(hr["popularity"])
    spread = np.std(hr["popularity"]) + np.std(hr["context_ease"])
    assert np.mean(hr["context_ease"]) > pop + spread, hr
    assert np.mean(hr["context_ease"]) >= np.mean(hr["ease"]) - 0.005, hr


def test_context_changes_suggestions_by_hour() -> None:
    morning = [["coffee", "croissant"]] * 40 + [["coffee", "sandwich"]] * 5
    noon = [["coffee", "sandwich"]] * 40 + [["coffee", "croissant"]] * 5
    rec = Recommender.fit(to_baskets(_lines(morning + noon, hours=[8] * 45 + [13] * 45)))
    at8 = rec.basket(["coffee"], 1, pd.Timestamp("2024-03-05 08:10"))["recommendations"]
    at13 = rec.basket(["coffee"], 1, pd.Timestamp("2024-03-05 13:10"))["recommendations"]
    assert at8[0]["item"] == "croissant" and at13[0]["item"] == "sandwich"  # type: ignore[index]


def test_save_load_round_trip_and_unknown_items(tmp_path: Path, bakery: pd.DataFrame) -> None:
    b = to_baskets(bakery.iloc[:5000])
    rec = Recommender.fit(b)
    path = rec.save(tmp_path / "model.bin")
    back = Recommender.load(path)
    assert path.exists() and back.items.tolist() == rec.items.tolist()
    assert back.recommend(b.rows(np.arange(50)), 5) == rec.recommend(b.rows(np.arange(50)), 5)
    res = back.basket(["Coffee", "Unicorn"], 3)
    assert res["unknown"] == ["Unicorn"] and len(res["recommendations"]) == 3  # type: ignore[arg-type]
    assert "Coffee" not in [r["item"] for r in res["recommendations"]]  # type: ignore[union-attr]
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(BasketInputError, match="not a smartstore recommender model"):
        Recommender.load(tmp_path / "junk.npz")


def test_substitutes_from_co_purchase_and_embeddings(tmp_path: Path) -> None:
    # tea and coffee are never bought together but with the same things: substitutes; cake goes with both
    baskets = [["tea", "cake"], ["coffee", "cake"], ["tea", "scone"], ["coffee", "scone"], ["juice", "sandwich"],
               ["juice", "crisps"], ["water", "sandwich"], ["water", "crisps"]] * 10
    b = to_baskets(_lines(baskets))
    rec = Recommender.fit(b)
    assert rec.substitutes("tea", 1)[0][0] == "coffee"
    assert rec.substitutes("juice", 1)[0][0] == "water"
    with pytest.raises(BasketInputError, match="unknown SKU 'milk'"):
        rec.substitutes("milk")
    # image embeddings where tea looks like juice: blended similarity moves juice up for tea
    emb = {name: np.eye(len(b.items))[i] for i, name in enumerate(b.items)}
    emb["juice"] = emb["tea"].copy()
    np.savez(tmp_path / "emb.npz", skus=np.array(list(emb)), embeddings=np.stack(list(emb.values())))
    with_emb = Recommender.fit(b, embeddings=load_embeddings(tmp_path / "emb.npz"))
    plain = [i for i, _ in rec.substitutes("tea", 8)]
    blended = [i for i, _ in with_emb.substitutes("tea", 8)]
    assert blended.index("juice") < plain.index("juice")
    back = Recommender.load(with_emb.save(tmp_path / "m.npz"))
    assert [i for i, _ in back.substitutes("tea", 8)] == blended


def test_empty_query_basket_falls_back_to_popularity() -> None:
    rec = Recommender.fit(to_baskets(_lines([["a", "b"]] * 5 + [["b", "c"]] * 3 + [["d"]])))
    recs = rec.recommend(to_baskets(_lines([["x"]]), items=rec.items), 2)[0]
    assert [i for i, _ in recs] == ["b", "a"]
    assert sp.issparse(to_baskets(_lines([["x"]]), items=rec.items).matrix)


def test_ncf_benchmark_model_learns_partners_that_popularity_misses() -> None:
    """tools/bench/ncf.py (benchmark-only NeuMF, torch): tuned on a validation split, it finds each item's partner."""
    pytest.importorskip("torch")
    from tools.bench.ncf import NCF, tune

    pairs = [[f"a{i:02d}", f"b{i:02d}"] for i in range(30)]
    kinds = [p for p in pairs for _ in range(10)] + [["bread", "cake"]] * 20 + [["bread"]] * 80
    order = np.random.default_rng(0).permutation(len(kinds))
    train = to_baskets(_lines([kinds[i] for i in order]))
    model, table = tune(train, NCF(batch=32, lr=0.01), max_epochs=15, grid={"loss": ("softmax", "bce"), "dim": (8,)})
    assert len(table) == 2 and all(1 <= epochs <= 15 for _, epochs, _ in table)
    assert model.loss in {"softmax", "bce"} and max(hr for *_, hr in table) > 0.9, table
    model.fit(train)
    query = to_baskets(_lines([[a] for a, _ in pairs] + [["bread"]]), items=train.items)
    partner = pd.Index(train.items).get_indexer([b for _, b in pairs] + ["cake"])
    rows = np.arange(query.n)
    for scores, min_top1 in ((model.score(query), 0.7), (Popularity().fit(train).score(query), 0.0)):
        scores[query.matrix.toarray() > 0] = -np.inf
        rank = np.sum(scores > scores[rows, partner][:, None], axis=1)
        assert np.mean(rank == 0) >= min_top1 and (min_top1 == 0.0 or np.all(rank < 10)), rank
    assert np.mean(rank == 0) < 0.1  # popularity: bread and cake first for every a-item
