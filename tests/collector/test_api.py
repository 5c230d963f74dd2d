"""The HTTP API: every data endpoint refuses requests without the token; a property test over the OpenAPI spec
(schemathesis) finds no server error; the answers match the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from fastapi import APIRouter
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from collector.api import create_app
from collector.store import Store, open_store
from collector.validation import check_event, check_status
from contract import Event, status_payload, status_topic

TOKEN = "api-test-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _fill(store: Store) -> None:
    now = datetime.now(UTC)
    events = [Event("footfall.crossing", "s1", "d1", i, {"line": "door", "direction": "in" if i % 2 else "out",
                                                         "track_id": i}, camera="c1", ts=now - timedelta(minutes=i))
              for i in range(120)]
    events += [Event("zone.occupancy", "s1", "d1", 200, {"zone": "plaza", "count": 4}, camera="c1"),
               Event("shelf.out_of_stock", "s1", "d1", 201, {"shelf": "A", "slot": "2", "sku": "milk"}, camera="c2"),
               Event("pos.sale", "s1", "till", 0, {"sku": "milk", "qty": 1, "price": 0.99, "receipt": "r1"})]
    store.write_batch([check_event(e.topic(), e.to_json()) for e in events],  # type: ignore[misc]
                      [check_event("smartstore/v1/s1/d1/x/y", b"\xff")],  # type: ignore[list-item]
                      [check_status(status_topic("s1", "d1"), status_payload("s1", "d1", "online"))])  # type: ignore


@pytest.fixture(scope="module")
def app_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Store]]:
    store = open_store(str(tmp_path_factory.mktemp("api") / "c.db"))
    _fill(store)
    extra = APIRouter()

    @extra.get("/forecasts/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app = create_app(store, TOKEN, routers=[extra])
    with TestClient(app) as client:
        yield client, store
    store.close()


def data_paths(client: TestClient) -> list[str]:
    spec = client.get("/openapi.json").json()
    paths = [p.replace("{store_id}", "s1") for p in spec["paths"]]
    assert all(p.startswith("/api/v1/") for p in paths) and len(paths) >= 9
    return paths


def test_every_data_endpoint_needs_the_token(app_store: tuple[TestClient, Store]) -> None:
    client, _ = app_store
    for path in data_paths(client):
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
            response = client.get(path, headers=headers)
            assert response.status_code == 401, (path, headers, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers=AUTH).status_code == 200, path


def test_answers_match_the_store(app_store: tuple[TestClient, Store]) -> None:
    client = app_store[0]
    assert client.get("/api/v1/stores", headers=AUTH).json()[0]["store"] == "s1"
    devices = {d["device"]: d for d in client.get("/api/v1/devices?store=s1", headers=AUTH).json()}
    assert devices["d1"]["state"] == "online" and devices["d1"]["events"] == 122
    series = client.get("/api/v1/stores/s1/footfall?bucket=day", headers=AUTH).json()
    assert sum(p["in"] + p["out"] for p in series) == 120 and set(series[0]) == {"store", "camera", "t", "in", "out"}
    assert client.get("/api/v1/stores/s1/occupancy", headers=AUTH).json()["total"] == 4
    assert client.get("/api/v1/stores/s1/alerts", headers=AUTH).json()[0]["sku"] == "milk"
    assert client.get("/api/v1/stores/s1/sales", headers=AUTH).json()[0]["price"] == 0.99
    assert client.get("/api/v1/dead-letters", headers=AUTH).json()[0]["reason"] == "bad_json"
    summary = client.get("/api/v1/summary", headers=AUTH).json()
    assert summary["store"] == "s1" and len(summary["footfall"]) >= 2 and summary["occupancy"]["total"] == 4
    assert client.get("/api/v1/forecasts/ping", headers=AUTH).json() == {"pong": "yes"}
    assert client.get("/api/v1/stores/bad%20id/footfall", headers=AUTH).status_code == 422
    assert client.get("/api/v1/stores/s1/footfall?start=yesterday", headers=AUTH).status_code == 422
    metrics = client.get("/metrics").text
    assert "smartstore_store_events 123" in metrics and 'smartstore_store_dead_letters{reason="bad_json"} 1' in metrics
    assert client.get("/dashboard/").status_code == 200 and client.get("/healthz").json()["ok"] is True


def test_openapi_property_no_server_error(app_store: tuple[TestClient, Store]) -> None:
    """schemathesis generates requests from the spec (valid and invalid parameters): none may answer 5xx."""
    client, _ = app_store
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    calls = {"n": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode, headers=AUTH))
            def check(case: schemathesis.Case) -> None:
                response = case.call()
                calls["n"] += 1
                assert response.status_code < 500, (case.path, case.query, response.status_code, response.text[:300])

            try:
                check()
            except Unsatisfiable:  # no parameter to break (e.g. /stores): nothing negative to generate
                assert mode == schemathesis.GenerationMode.NEGATIVE
    assert calls["n"] >= 300, calls


def test_collector_mounts_forecast_and_recommender_routes(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``collector run`` mounts the forecast routes always and the basket routes once ``recommender.model`` names a
    fitted model (or the default ``recommender.npz`` exists); both stay behind the token."""
    import pandas as pd

    from collector.config import load_config
    from collector.recommend.data import load_baskets
    from collector.recommend.recommender import Recommender
    from collector.service import extra_routers

    lines = pd.DataFrame({"transaction_id": [1, 1, 2, 2, 3, 3, 4], "item": ["tea", "milk", "tea", "milk", "bread",
                                                                             "tea", "milk"]})
    model = Recommender.fit(load_baskets(lines)).save(tmp_path / "rec.npz")
    store = open_store(str(tmp_path / "c.db"))
    monkeypatch.chdir(tmp_path)  # the default model file is recommender.npz in the working directory
    try:
        without = extra_routers(store)  # no model named and no default file: no basket routes
        assert not [r for router in without for r in router.routes if "baskets" in getattr(r, "path", "")]
        (tmp_path / "recommender.npz").write_bytes(model.read_bytes())
        assert len(extra_routers(store, load_config())) == len(without) + 1  # the default file, once fitted
        config = load_config(None, {"recommender.model": str(model)})
        with TestClient(create_app(store, TOKEN, routers=extra_routers(store, config))) as client:
            paths = client.get("/openapi.json").json()["paths"]
            assert "/api/v1/forecasts" in paths and "/api/v1/baskets/recommendations" in paths
            assert client.get("/api/v1/baskets/recommendations?items=tea").status_code == 401
            answer = client.get("/api/v1/baskets/recommendations?items=tea", headers=AUTH)
            assert answer.status_code == 200, answer.text
            assert "milk" in answer.text
    finally:
        store.close()


def test_a_configured_recommender_model_must_load(tmp_path) -> None:
    """A named model file that is missing, or a corrupt one, is one error line naming the field and the file."""
    from collector.config import load_config
    from collector.recommend.api import RecommenderModelError, configured_model

    missing = tmp_path / "none.npz"
    with pytest.raises(RecommenderModelError, match=f"^recommender.model: {missing}: no such model file"):
        configured_model(load_config(None, {"recommender.model": str(missing)}).recommender)
    for name, content in (("empty.npz", b""), ("text.npz", b"not a model"), ("cut.npz", b"PK\x03\x04" + b"x" * 64)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(RecommenderModelError) as caught:
            configured_model(load_config(None, {"recommender.model": str(tmp_path / name)}).recommender)
        message = str(caught.value)
        assert message.startswith(f"recommender.model: {tmp_path / name}: not a smartstore recommender model")
        assert "\n" not in message
