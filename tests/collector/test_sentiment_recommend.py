"""Poorly reviewed substitutes rank lower: the same recommender and baskets, with and without negative reviews of
the best substitute, through the collector's ``/substitutes/{sku}?store=`` route."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.config import load_config
from collector.recommend.data import to_baskets
from collector.recommend.recommender import Recommender
from collector.service import extra_routers
from collector.store import open_store

ADMIN = {"Authorization": "Bearer configured-admin-token-0123"}
NEGATIVE = ["Went sour two days before the date, awful.", "Tastes chalky and thin, very disappointed.",
            "Leaking carton again, terrible.", "Horrible aftertaste, will not buy again.",
            "Awful, it curdled in my coffee.", "Poor quality, the carton was damaged."]


def _model(folder: Path) -> Path:
    # oat and soy milk are never bought together but with the same things: milk's substitutes; oat the closest
    baskets = ([["milk", "cereal"], ["milk", "coffee"], ["milk", "tea"], ["oat-milk", "cereal"],
                ["oat-milk", "coffee"], ["oat-milk", "tea"], ["soy-milk", "cereal"], ["soy-milk", "coffee"],
                ["bread", "jam"]] * 5)
    rows = [{"transaction_id": f"t{t}", "item": i} for t, items in enumerate(baskets) for i in items]
    return Recommender.fit(to_baskets(pd.DataFrame(rows))).save(folder / "rec.npz")


def _ranks(client: TestClient, store: str | None) -> list[str]:
    params: dict[str, str | int] = {"k": 3, **({"store": store} if store else {})}
    response = client.get("/api/v1/substitutes/milk", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return [s["item"] for s in response.json()["substitutes"]]


def test_negative_reviews_push_a_substitute_down(tmp_path: Path) -> None:
    model = _model(tmp_path)
    store = open_store(str(tmp_path / "c.db"))
    config = load_config(None, {"recommender.model": str(model)})
    try:
        with TestClient(create_app(store, ADMIN["Authorization"][7:], routers=extra_routers(store, config))) as c:
            before = _ranks(c, "s1")
            assert before[:2] == ["oat-milk", "soy-milk"] and before == _ranks(c, None)  # no reviews: no change
            store.import_reviews([("s1", f"n{i}", "oat-milk", float(i), text, 1.0, None, "csv")
                                  for i, text in enumerate(NEGATIVE)])
            after = _ranks(c, "s1")
            assert after.index("soy-milk") < after.index("oat-milk")
            assert _ranks(c, "s2") == before and _ranks(c, None) == before  # another store's reviews, none asked
    finally:
        store.close()
