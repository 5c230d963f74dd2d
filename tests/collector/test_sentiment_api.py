"""The sentiment routes: JSON shape the dashboard reads, and scopes (a read:<store> token sees its store only,
a revoked or unknown token nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.auth import check_scopes, new_token, token_hash
from collector.service import extra_routers
from collector.store import Store, open_store

ADMIN = "configured-admin-token-0123"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store: Store = open_store(str(tmp_path / "c.db"))
    store.import_reviews([("s1", "a", "tea", 1.0, "Lovely flavour, fair price", 5.0, None, "csv"),
                          ("s1", "b", "tea", 2.0, "Stale taste, too expensive", 1.0, "en", "csv"),
                          ("s2", "c", "tea", 3.0, "味道很好", None, None, "csv")])
    tokens = {scope: new_token() for scope in ("read:s1", "read:s2", "read:all")}
    for scope, token in tokens.items():
        store.add_token(scope, check_scopes([scope]), token_hash(token))
    with TestClient(create_app(store, ADMIN, routers=extra_routers(store))) as c:
        yield c, tokens
    store.close()


def _get(client: TestClient, path: str, token: str) -> tuple[int, Any]:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


def test_shape(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    status, listed = _get(c, "/api/v1/stores/s1/sentiment", tokens["read:s1"])
    assert status == 200 and isinstance(listed, list)
    assert [set(p) for p in listed] == [{"sku", "n", "score", "ci_low", "ci_high", "aspects"}]
    status, detail = _get(c, "/api/v1/stores/s1/products/tea/sentiment", tokens["read:s1"])
    assert status == 200 and isinstance(detail, dict)
    assert set(detail) == {"sku", "n", "score", "ci_low", "ci_high", "aspects", "reviews"}
    assert detail["n"] == 2 and detail["score"] == 0.5
    assert {a["aspect"] for a in detail["aspects"]} == {"taste", "price"}
    assert all(set(a) == {"aspect", "mentions", "polarity"} for a in detail["aspects"])
    assert [(r["id"], r["label"]) for r in detail["reviews"]] == [("b", "negative"), ("a", "positive")]
    assert _get(c, "/api/v1/stores/s1/products/tea/sentiment?latest=1", ADMIN)[1]["reviews"][0]["id"] == "b"


@pytest.mark.parametrize("path", ["/api/v1/stores/{}/sentiment", "/api/v1/stores/{}/products/tea/sentiment"])
def test_scopes(client: tuple[TestClient, dict[str, str]], path: str) -> None:
    c, tokens = client
    assert _get(c, path.format("s1"), tokens["read:s1"])[0] == 200
    assert _get(c, path.format("s2"), tokens["read:s1"])[0] == 403
    assert _get(c, path.format("s1"), tokens["read:s2"])[0] == 403
    assert _get(c, path.format("s2"), tokens["read:all"])[0] == 200
    assert _get(c, path.format("s1"), "sst_" + "x" * 43)[0] == 401
    assert c.get(path.format("s1")).status_code == 401
