"""Every route of the collector app as ``smartstore collector run`` assembles it (:func:`collector.service.build_app`,
every router that mounts) is walked from ``app.routes``: each ``/api/v1`` route answers 401 without a token or with
an unknown one, 403 to a live token whose scopes lack what the route needs (:func:`collector.auth.route_access`),
and neither to one that has it. Routes added later are covered without editing this file; a route outside
``/api/v1`` (no token check) fails until it is added to :data:`OPEN`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from collector.auth import Access, check_scopes, new_token, route_access, token_hash
from collector.config import load_config
from collector.service import build_app
from collector.store import Store, open_store

ADMIN_TOKEN = "configured-admin-token-route-scopes"
#: the routes served without a token (docs/collector.md): the dashboard, Prometheus, liveness, the OpenAPI spec
OPEN = {"/", "/metrics", "/healthz", "/openapi.json", "/dashboard", "/bundles", "/docs", "/docs/oauth2-redirect"}
#: write routes (not GET/HEAD) that need less than admin: none today; one added must be listed here on purpose
NON_ADMIN_WRITES: set[tuple[str, str]] = set()
PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


@pytest.fixture(scope="module")
def app_and_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, list[Any], dict[str, str]]]:
    """The assembled app (with a fitted recommender, so its router mounts too) and a live token per scope."""
    import pandas as pd

    from collector.recommend.data import load_baskets
    from collector.recommend.recommender import Recommender

    folder = tmp_path_factory.mktemp("route-scopes")
    lines = pd.DataFrame({"transaction_id": [1, 1, 2, 2, 3], "item": ["tea", "milk", "tea", "milk", "bread"]})
    model = Recommender.fit(load_baskets(lines)).save(folder / "rec.npz")
    config = load_config(None, {"store": str(folder / "c.db"), "api.token": ADMIN_TOKEN,
                                "recommender.model": str(model)})
    store: Store = open_store(config.store)
    tokens = {scope: new_token() for scope in ("admin", "read:all", "read:s1", "read:s2")}
    for scope, token in tokens.items():
        store.add_token(scope, check_scopes([scope]), token_hash(token))
    app = build_app(store, config)
    app.state.database = config.store
    with TestClient(app) as client:
        yield client, list(app.routes), tokens
    store.close()


@dataclass(frozen=True)
class Served:
    """One route as served: its full ``path`` and ``methods``, and the ``route`` object its requests carry (what
    :func:`collector.auth.route_access` reads)."""

    path: str
    methods: frozenset[str]
    route: Any


def _served(routes: list[Any]) -> list[Served]:
    """Every route of the app, those of included routers flattened (FastAPI >= 0.13x keeps included routers as
    one entry each, expanded by ``iter_route_contexts``; older ones list the prefixed routes themselves)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        return [Served(r.path, frozenset(getattr(r, "methods", None) or ()), r) for r in routes]
    return [Served(str(c.path), frozenset(c.methods or ()), c.original_route) for c in iterate(routes)]


def _api_routes(routes: list[Any]) -> list[tuple[str, Served]]:
    return [(method, r) for r in _served(routes) if isinstance(r.route, APIRoute) and r.path.startswith("/api/v1/")
            for method in sorted(r.methods)]


def _url(route: Served, store: str) -> str:
    """The route's path with ``store_id`` = ``store`` and any other parameter a placeholder (the token check runs
    before parameter validation, so a placeholder the route would refuse with 422 still tests the scope)."""
    return PARAM.sub(lambda m: store if m.group(1) == "store_id" else "x", route.path)


def _cases(method: str, served: Served) -> list[tuple[str, dict[str, str], str, str]]:
    """``(url, query, refused scope, allowed scope)`` for ``route``: one token that must get 403, one that must not."""
    route = served
    access = route_access(served.route)
    named = "{store_id}" in route.path
    if access is Access.ADMIN:
        return [(_url(route, "s1"), {}, "read:all", "admin")]
    if access is Access.ALL:
        return [(_url(route, "s1"), {}, "read:s1", "read:all")]
    if named:  # STORE or OWN with the store in the path: another store's token
        return [(_url(route, "s1"), {}, "read:s2", "read:s1")]
    cases = [(_url(route, "s1"), {"store": "s1"}, "read:s2", "read:s1")]  # the store as a query parameter
    if access is Access.STORE:  # no store named: read:all only
        cases.append((_url(route, "s1"), {}, "read:s1", "read:all"))
    return cases


def test_the_app_has_routes_of_every_router(app_and_tokens: tuple[TestClient, list[Any], dict[str, str]]) -> None:
    """The walk below sees the forecaster's and the recommender's routes, not only collector.api's."""
    paths = {r.path for _, r in _api_routes(app_and_tokens[1])}
    assert "/api/v1/stores" in paths and "/api/v1/tokens" in paths
    assert any("forecast" in p for p in paths) and "/api/v1/substitutes/{sku}" in paths


def test_no_route_outside_api_v1_but_the_open_ones(app_and_tokens: tuple[TestClient, list[Any], dict[str, str]]
                                                   ) -> None:
    outside = {r.path for r in _served(app_and_tokens[1])} - OPEN
    assert {p for p in outside if not p.startswith("/api/v1/")} == set()


def test_write_routes_need_admin(app_and_tokens: tuple[TestClient, list[Any], dict[str, str]]) -> None:
    writes = {(m, r.path): route_access(r.route) for m, r in _api_routes(app_and_tokens[1]) if m not in ("GET", "HEAD")}
    assert {k: v for k, v in writes.items() if v is not Access.ADMIN and k not in NON_ADMIN_WRITES} == {}


def test_every_api_route_refuses_no_token_and_the_wrong_scope(
        app_and_tokens: tuple[TestClient, list[Any], dict[str, str]]) -> None:
    client, routes, tokens = app_and_tokens
    checked = 0
    for method, route in _api_routes(routes):
        for url, query, refused, allowed in _cases(method, route):
            where = f"{method} {url} {query} ({route_access(route.route).value})"
            assert client.request(method, url, params=query).status_code == 401, where
            wrong = {"Authorization": "Bearer sst_" + "x" * 43}
            assert client.request(method, url, params=query, headers=wrong).status_code == 401, where
            response = client.request(method, url, params=query, headers={"Authorization": f"Bearer {tokens[refused]}"})
            assert response.status_code == 403, f"{where}: {refused} got {response.status_code}"
            response = client.request(method, url, params=query, headers={"Authorization": f"Bearer {tokens[allowed]}"})
            assert response.status_code not in (401, 403), f"{where}: {allowed} got {response.status_code}"
            checked += 1
    assert checked >= len(_api_routes(routes))


def test_tokens_are_not_stored_in_clear(app_and_tokens: tuple[TestClient, list[Any], dict[str, str]]) -> None:
    """The database file (every page, WAL included) holds each token's SHA-256 and never the token."""
    client, _, tokens = app_and_tokens
    client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {tokens['admin']}"}).raise_for_status()
    database = Path(client.app.state.database)  # type: ignore[attr-defined]
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for token in tokens.values():
        assert token.encode() not in stored and token_hash(token).encode() in stored
