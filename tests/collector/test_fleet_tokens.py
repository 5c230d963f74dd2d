"""Scoped API tokens: every ``/api/v1`` route (enumerated from the app, the forecaster's routes included) refuses a
token whose scope does not cover it, a ``read:<store>`` token sees only its store, revoked tokens are refused,
and the store keeps no token in clear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.auth import Access, ScopeError, check_scopes, new_token, token_hash
from collector.config import load_config
from collector.service import extra_routers
from collector.store import Store, open_store
from collector.validation import check_event, check_status
from contract import Event, status_payload, status_topic

ADMIN_TOKEN = "configured-admin-token-0123"
#: every /api/v1 route and the access it must have: a route missing here fails the test until it is reviewed
EXPECTED = {
    ("GET", "/api/v1/stores"): Access.OWN, ("GET", "/api/v1/devices"): Access.OWN,
    ("GET", "/api/v1/summary"): Access.OWN, ("GET", "/api/v1/dead-letters"): Access.ALL,
    ("GET", "/api/v1/tokens"): Access.ADMIN,
    ("GET", "/api/v1/stores/{store_id}/footfall"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/occupancy"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/zones"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/alerts"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/sales"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/shadow"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/forecast/{kind}"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/forecasts"): Access.STORE,
    ("POST", "/api/v1/stores/{store_id}/forecast/refresh"): Access.ADMIN,
    ("POST", "/api/v1/stores/{store_id}/replenishment"): Access.ADMIN,  # not declared: writes default to admin
    ("POST", "/api/v1/forecasts"): Access.ADMIN,
    ("GET", "/api/v1/baskets/recommendations"): Access.ALL, ("GET", "/api/v1/substitutes/{sku}"): Access.ALL,
    ("GET", "/api/v1/rollouts"): Access.ADMIN, ("GET", "/api/v1/rollouts/{rollout_id}"): Access.ADMIN,
    ("POST", "/api/v1/rollouts/{rollout_id}/abort"): Access.ADMIN,
    ("GET", "/api/v1/stores/{store_id}/prices"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/prices/pending"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/products/{sku}/prices"): Access.STORE,
    ("POST", "/api/v1/stores/{store_id}/prices/evaluate"): Access.ADMIN,
    ("POST", "/api/v1/stores/{store_id}/prices/{price_id}/approve"): Access.ADMIN,
    ("POST", "/api/v1/stores/{store_id}/prices/{price_id}/reject"): Access.ADMIN,
    ("GET", "/api/v1/stores/{store_id}/sentiment"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/products/{sku}/sentiment"): Access.STORE,
    ("GET", "/api/v1/stores/{store_id}/shelf-actions"): Access.STORE,
}
SAMPLE_PATH = {"kind": "footfall", "sku": "milk", "rollout_id": "1", "price_id": "0" * 32}


def _fill(store: Store) -> None:
    now = datetime.now(UTC)
    events = [Event("footfall.crossing", s, "d1", i, {"line": "door", "direction": "in", "track_id": i},
                    camera="c1", ts=now - timedelta(minutes=i)) for s in ("s1", "s2") for i in range(5)]
    events += [Event("pos.sale", "s2", "till", 0, {"sku": "milk", "qty": 1, "price": 0.99, "receipt": "r1"})]
    store.write_batch([check_event(e.topic(), e.to_json()) for e in events],  # type: ignore[misc]
                      [check_event("smartstore/v1/s2/d1/x/y", b"\xff")],  # type: ignore[list-item]
                      [check_status(status_topic("s2", "d1"), status_payload("s2", "d1", "online"))])  # type: ignore


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    import pandas as pd

    from collector.recommend.data import load_baskets
    from collector.recommend.recommender import Recommender

    folder = tmp_path_factory.mktemp("tokens")
    store = open_store(str(folder / "c.db"))
    _fill(store)
    lines = pd.DataFrame({"transaction_id": [1, 1, 2, 2, 3], "item": ["tea", "milk", "tea", "milk", "bread"]})
    model = Recommender.fit(load_baskets(lines)).save(folder / "rec.npz")
    routers = extra_routers(store, load_config(None, {"recommender.model": str(model)}))
    tokens = {name: new_token() for name in ("admin", "read:all", "read:s1", "revoked")}
    for name, token in tokens.items():
        token_id = store.add_token(name, check_scopes(["read:s1" if name == "revoked" else name]), token_hash(token))
    assert store.revoke_token(token_id) and not store.revoke_token(token_id)
    with TestClient(create_app(store, ADMIN_TOKEN, routers=routers)) as client:
        yield client, store, tokens
    store.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_is_reviewed(api: tuple[TestClient, Store, dict[str, str]]) -> None:
    """The app's operations (from its OpenAPI spec) are exactly EXPECTED's: a new route fails here until its
    access is reviewed and listed; the next test then checks that the app enforces it."""
    spec = api[0].get("/openapi.json").json()
    assert {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops} == set(EXPECTED)
    assert spec["paths"]["/api/v1/tokens"]["get"]["x-scope"] == "admin"


def test_every_route_refuses_a_token_of_the_wrong_scope(api: tuple[TestClient, Store, dict[str, str]]) -> None:
    client, _, tokens = api
    for (method, route), access in EXPECTED.items():
        for store in ("s1", "s2"):
            path = route.format(store_id=store, **SAMPLE_PATH)
            query = {"store": store} if access is Access.OWN else {}
            allowed = {"admin"} | ({"read:all"} if access is not Access.ADMIN else set())
            allowed |= {"read:s1"} if access in (Access.STORE, Access.OWN) and store == "s1" else set()
            for name, token in tokens.items():
                response = client.request(method, path, params=query, headers=_auth(token))
                refused = 401 if name == "revoked" else 403 if name not in allowed else None
                if refused is not None:
                    assert response.status_code == refused, (method, path, name, response.status_code)
                else:
                    assert response.status_code not in (401, 403), (method, path, name, response.text[:200])
            answer = client.request(method, path, params=query, headers=_auth(ADMIN_TOKEN))
            assert answer.status_code not in (401, 403), (method, path)  # api.token: admin
            assert client.request(method, path, headers=_auth("sst_" + "x" * 43)).status_code == 401


def test_a_store_token_sees_only_its_store(api: tuple[TestClient, Store, dict[str, str]]) -> None:
    client, _, tokens = api
    mine, every = _auth(tokens["read:s1"]), _auth(tokens["read:all"])
    assert [s["store"] for s in client.get("/api/v1/stores", headers=every).json()] == ["s1", "s2"]
    assert [s["store"] for s in client.get("/api/v1/stores", headers=mine).json()] == ["s1"]
    assert {d["store"] for d in client.get("/api/v1/devices", headers=mine).json()} == {"s1"}
    assert {d["store"] for d in client.get("/api/v1/devices", headers=every).json()} == {"s1", "s2"}
    summary = client.get("/api/v1/summary", headers=mine).json()
    assert summary["store"] == "s1" and [s["store"] for s in summary["stores"]] == ["s1"]
    assert sum(p["in"] for p in client.get("/api/v1/stores/s1/footfall", headers=mine).json()) == 5
    for path in ("/api/v1/stores/s2/sales", "/api/v1/devices?store=s2", "/api/v1/summary?store=s2",
                 "/api/v1/dead-letters", "/api/v1/tokens"):
        response = client.get(path, headers=mine)
        assert response.status_code == 403, path
        assert "scopes do not cover" in response.json()["detail"]


def test_tokens_are_stored_hashed_and_listed_without_secrets(api: tuple[TestClient, Store, dict[str, str]]) -> None:
    client, store, tokens = api
    dump = repr(store.rows("SELECT * FROM api_tokens"))
    for token in tokens.values():
        assert token not in dump and token_hash(token) in dump
    listed = client.get("/api/v1/tokens", headers=_auth(tokens["admin"])).json()
    assert [t["name"] for t in listed] == ["admin", "read:all", "read:s1", "revoked"]
    assert listed[3]["revoked"] is not None and listed[2]["scopes"] == ["read:s1"]
    assert not any(token in repr(listed) or token_hash(token) in repr(listed) for token in tokens.values())


def test_token_queries_on_both_backends(store: Store) -> None:
    token = new_token()
    token_id = store.add_token("dash", ("read:a", "read:b"), token_hash(token))
    assert store.token_by_hash(token_hash(token)) == {"id": token_id, "name": "dash", "scopes": ("read:a", "read:b"),
                                                      "created": pytest.approx(store.tokens()[0]["created"]),
                                                      "revoked": None}
    assert store.revoke_token(token_id) and store.token_by_hash(token_hash(token)) is None
    assert not store.revoke_token(token_id + 1)


@pytest.mark.parametrize("scopes", [[], ["write:s1"], ["read:"], ["read:bad store"], ["Admin"]])
def test_bad_scopes_are_refused(scopes: list[str]) -> None:
    with pytest.raises(ScopeError):
        check_scopes(scopes)
