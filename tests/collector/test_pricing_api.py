"""The pricing routes: each refuses a token whose scope does not cover it (read:<other store> for the reads,
anything but admin for evaluate/approve/reject) and answers one that does; what they answer matches the store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.auth import check_scopes, new_token, token_hash
from collector.pricing.api import make_router
from collector.pricing.book import PriceBook
from collector.store import Store, open_store
from tests.collector.pricing_helpers import config, seeded

ADMIN = "pricing-api-admin-token"
SCOPES = ("admin", "read:all", "read:s1", "read:s2")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[str, dict[str, str]]]]:
    store = open_store(str(tmp_path / "c.db"))
    seeded(store, time.time())
    cfg = config(str(tmp_path / "c.db"), None, {"demand.enabled": False, "gateways": {"s1": "labels-gw"}})
    cfg.recommender.model = tmp_path / "none.npz"
    headers = {}
    for scope in SCOPES:
        token = new_token()
        store.add_token(scope, check_scopes([scope]), token_hash(token))
        headers[scope] = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(store, ADMIN, routers=[make_router(store, cfg)])) as client:
        yield client, store, headers
    store.close()


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.request(method, path, headers=headers)


def test_every_pricing_route_needs_its_scope(api: tuple[TestClient, Store, dict[str, dict[str, str]]]) -> None:
    client, store, headers = api
    assert client.post("/api/v1/stores/s1/prices/evaluate", headers=headers["admin"]).status_code == 200
    pending = PriceBook(store).pending("s1")
    one, two = pending[0]["id"], pending[1]["id"]
    reads = ["/api/v1/stores/s1/prices", "/api/v1/stores/s1/prices/pending", "/api/v1/stores/s1/products/milk/prices"]
    for path in reads:
        assert client.get(path).status_code == 401
        assert client.get(path, headers=headers["read:s2"]).status_code == 403, path
        for scope in ("read:s1", "read:all", "admin"):
            assert client.get(path, headers=headers[scope]).status_code == 200, (path, scope)
    writes = ["/api/v1/stores/s1/prices/evaluate", f"/api/v1/stores/s1/prices/{one}/approve",
              f"/api/v1/stores/s1/prices/{two}/reject"]
    for path in writes:
        assert client.post(path).status_code == 401
        for scope in ("read:s1", "read:all", "read:s2"):
            assert client.post(path, headers=headers[scope]).status_code == 403, (path, scope)
        assert client.post(path, headers=headers["admin"]).status_code == 200, path
    spec = client.get("/openapi.json").json()["paths"]
    ours = {p for p in spec if "/prices" in p}
    assert len(ours) == 6 and {p.replace("{store_id}", "s1").replace("{sku}", "milk") for p in ours if "{price_id}"
                               not in p} == {*reads, "/api/v1/stores/s1/prices/evaluate"}


def test_prices_history_and_decisions(api: tuple[TestClient, Store, dict[str, dict[str, str]]]) -> None:
    client, _store, headers = api
    admin = headers["admin"]
    evaluated = {r["sku"]: r for r in client.post("/api/v1/stores/s1/prices/evaluate", headers=admin).json()}
    assert evaluated["yoghurt"]["state"] == "pending" and evaluated["yoghurt"]["rules"] == ["markdown"]
    listed = {r["sku"]: r for r in client.get("/api/v1/stores/s1/prices", headers=headers["read:s1"]).json()}
    assert listed["yoghurt"]["current"] is None and listed["yoghurt"]["pending"]["price"] == 0.8
    yoghurt = evaluated["yoghurt"]["price_id"]
    ok = client.post(f"/api/v1/stores/s1/prices/{yoghurt}/approve", headers=admin, json={"reason": "shelf checked"})
    assert ok.json()["state"] == "approved" and ok.json()["decided_by"] == "admin"  # the token's name
    again = client.post(f"/api/v1/stores/s1/prices/{yoghurt}/approve", headers=admin)
    assert again.status_code == 409 and "is approved, not pending" in again.json()["detail"]
    elsewhere = client.post(f"/api/v1/stores/s2/prices/{evaluated['milk']['price_id']}/reject", headers=admin)
    assert elsewhere.status_code == 404
    assert client.post(f"/api/v1/stores/s1/prices/{'0' * 32}/reject", headers=admin).status_code == 404
    listed = {r["sku"]: r for r in client.get("/api/v1/stores/s1/prices", headers=admin).json()}
    assert listed["yoghurt"]["current"]["price"] == 0.8 and listed["yoghurt"]["current"]["push"] == "pending"
    history = client.get("/api/v1/stores/s1/products/yoghurt/prices", headers=headers["read:all"]).json()
    assert history["current"] == yoghurt and history["base"] == 1.0
    (price,) = history["prices"]
    assert [a["action"] for a in price["audit"]] == ["proposed", "approved"]
    assert price["audit"][1]["reason"] == "shelf checked" and price["push"]["device"] == "labels-gw"
    assert [s["rule"] for s in price["audit"][0]["rules"]][1] == "markdown"
    assert client.get("/api/v1/stores/s1/products/caviar/prices", headers=admin).status_code == 404
    pending = client.get("/api/v1/stores/s1/prices/pending", headers=admin).json()
    assert {r["sku"] for r in pending} == {"milk", "oat-milk", "bread"}
