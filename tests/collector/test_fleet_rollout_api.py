"""The roll-out routes: admin only (every other token refused on every route), the list with device counts, one
roll-out with every device's state, an abort by hand; the CLI's one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.api import create_app
from collector.auth import check_scopes, new_token, token_hash
from collector.fleet.api import collector_router
from collector.fleet.rollout import create_rollout, load_manifest
from collector.fleet.rollout_plan import RolloutSettings
from collector.fleet.rollout_store import RolloutStore
from collector.store import Store, open_store
from contract.signing import generate_keypair, load_private_key, sign_bundle

ADMIN = "configured-admin-token-0123"
ROUTES = [("GET", "/api/v1/rollouts"), ("GET", "/api/v1/rollouts/{id}"), ("POST", "/api/v1/rollouts/{id}/abort")]
REPO = Path(__file__).resolve().parents[2]
DEVICES = [("s1", "d1"), ("s1", "d2"), ("s2", "d1")]


def signed_config(folder: Path, version: int = 4) -> Path:
    generate_keypair(folder / "fleet.key", folder / "fleet.pub")
    signed = sign_bundle(load_private_key(folder / "fleet.key"), "layout", version,
                         config={"model": {"confidence": 0.4}})
    path = folder / "layout.json"
    path.write_text(json.dumps(signed))
    return path


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[str, str], int]]:
    store = open_store(str(tmp_path / "c.db"))
    signed, manifest = load_manifest(signed_config(tmp_path))
    rollout_id = create_rollout(store, signed, manifest, DEVICES, RolloutSettings.model_validate({}))
    tokens = {name: new_token() for name in ("admin", "read:all", "read:s1")}
    for name, token in tokens.items():
        store.add_token(name, check_scopes([name]), token_hash(token))
    with TestClient(create_app(store, ADMIN, routers=[collector_router(store)])) as client:
        yield client, store, tokens, rollout_id
    store.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_rollout_route_refuses_tokens_without_admin(api: tuple[TestClient, Store, dict[str, str], int]) -> None:
    client, _, tokens, rollout_id = api
    for method, route in ROUTES:
        path = route.format(id=rollout_id)
        assert client.request(method, path).status_code == 401
        assert client.request(method, path, headers=_auth("sst_" + "x" * 43)).status_code == 401
        for name in ("read:all", "read:s1"):
            assert client.request(method, path, headers=_auth(tokens[name])).status_code == 403, (method, path, name)
        assert client.request(method, path, params={"store": "s1"},
                              headers=_auth(tokens["read:s1"])).status_code == 403
    spec = client.get("/openapi.json", headers=_auth(ADMIN)).json()
    assert {spec["paths"][r.replace("{id}", "{rollout_id}")][m.lower()]["x-scope"] for m, r in ROUTES} == {"admin"}


def test_list_detail_and_abort(api: tuple[TestClient, Store, dict[str, str], int]) -> None:
    client, store, tokens, rollout_id = api
    listed = client.get("/api/v1/rollouts", headers=_auth(tokens["admin"])).json()
    assert [(r["id"], r["kind"], r["name"], r["version"], r["state"], r["devices"]) for r in listed] == [
        (rollout_id, "config", "layout", 4, "running", {"pending": 3})]
    RolloutStore(store).set_device(rollout_id, "s1", "d2", state="applied", sent=1.0, applied=2.0, previous=3)
    detail = client.get(f"/api/v1/rollouts/{rollout_id}", headers=_auth(ADMIN)).json()
    assert detail["devices"] == {"pending": 2, "applied": 1}
    assert {(d["store"], d["device"]): d["state"] for d in detail["device_states"]} == {
        ("s1", "d1"): "pending", ("s1", "d2"): "applied", ("s2", "d1"): "pending"}
    assert sorted(d["wave"] for d in detail["device_states"]) == [0, 1, 2]  # 5 % of 3 is one canary, then 1, 1
    aborted = client.post(f"/api/v1/rollouts/{rollout_id}/abort", headers=_auth(ADMIN)).json()
    assert aborted["state"] == "rolling_back" and aborted["reason"] == "aborted by hand (API)"
    again = client.post(f"/api/v1/rollouts/{rollout_id}/abort", headers=_auth(ADMIN))
    assert again.status_code == 409 and "already rolling_back" in again.json()["detail"]
    assert client.get("/api/v1/rollouts/999", headers=_auth(ADMIN)).status_code == 404
    assert client.post("/api/v1/rollouts/999/abort", headers=_auth(ADMIN)).status_code == 404


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())", "fleet",
                           *args], capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize(("args", "message"), [
    (["--all", "--canary", "5"], "--canary: '5' is not within (0, 100%]"),
    (["--all", "--waves", "25%,50%"], "the last wave must be 100%"),
    (["--all", "--soak", "soon"], "--soak: expected a duration like 60s"),
    (["--all", "--detection-band", "2"], "--detection-band: expected LOW,HIGH"),
    ([], "name the devices: --stores, --devices or --all"),
    (["--stores", "s9"], "no device of store 's9' has reported to this collector"),
    (["--devices", "s1"], "--devices: expected STORE/DEVICE, got 's1'"),
])
def test_rollout_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    manifest = signed_config(tmp_path)
    result = _cli("rollout", str(manifest), "--db", str(tmp_path / "c.db"), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_rollout_cli_refuses_unsigned_and_out_of_scope_manifests(tmp_path: Path) -> None:
    manifest = signed_config(tmp_path)
    body = json.loads(manifest.read_text())
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps({"body": body["body"]}))
    result = _cli("rollout", str(unsigned), "--db", str(tmp_path / "c.db"), "--all")
    assert result.returncode == 2 and "unsigned" in result.stderr
    scoped = sign_bundle(load_private_key(tmp_path / "fleet.key"), "layout", 5, config={}, stores=["s1"])
    (tmp_path / "scoped.json").write_text(json.dumps(scoped))
    result = _cli("rollout", str(tmp_path / "scoped.json"), "--db", str(tmp_path / "c.db"), "--devices", "s2/d1")
    assert result.returncode == 2 and "signed for stores ['s1']" in result.stderr and "not s2/d1" in result.stderr


def test_rollout_cli_creates_and_reports(tmp_path: Path) -> None:
    manifest = signed_config(tmp_path)
    db = str(tmp_path / "c.db")
    created = _cli("rollout", str(manifest), "--db", db, "--devices", "s1/d1,s1/d2", "--devices", "s2/d1",
                   "--canary", "33%", "--waves", "100%", "--soak", "5m")
    assert created.returncode == 0, created.stderr
    rollout_id = int(created.stdout)
    assert "to 3 devices in 2 waves" in created.stderr
    status: Any = json.loads(_cli("rollout-status", str(rollout_id), "--db", db, "--json").stdout)
    assert status["settings"]["soak_s"] == 300 and status["settings"]["waves"] == [1.0]
    assert sorted(d["wave"] for d in status["device_states"]) == [0, 1, 1]
    assert "running" in _cli("rollout-status", "--db", db).stdout
    busy = _cli("rollout", str(manifest), "--db", db, "--devices", "s1/d1")
    assert busy.returncode == 2 and f"roll-out {rollout_id} of layout is still running" in busy.stderr
    aborted = _cli("rollout-abort", str(rollout_id), "--db", db)
    assert aborted.returncode == 0 and "rolling back" in aborted.stdout
