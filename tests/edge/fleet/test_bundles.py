"""Signed bundles through the command channel: what is refused (each with one log line and a failed reply naming
the reason), what is applied, rollback, and a command that arrives twice or too late."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.commands import Command
from contract.events import utc_now
from contract.signing import sign_bundle, sign_document
from tests.edge.fleet.helpers import BundleServer, Fleet


def test_deploy_then_upgrade_then_rollback(fleet: Fleet, server: BundleServer) -> None:
    store = fleet.channel.bundles
    reply = fleet.run("deploy_model", bundle=fleet.bundle(server, 1))
    assert (reply.state, reply.detail["version"], store.current("m")) == ("applied", 1, 1)
    assert fleet.host.restarts == [store.version_dir("m", 1)]
    assert (store.version_dir("m", 1) / "weights.bin").stat().st_size == 256 * 40
    assert fleet.run("deploy_model", bundle=fleet.bundle(server, 2)).state == "applied"
    assert store.current("m") == 2 and store.versions("m") == [1, 2]  # the old one stays for rollback
    reply = fleet.run("rollback", name="m")
    assert (reply.state, reply.detail, store.current("m")) == ("applied", {"name": "m", "version": 1, "previous": 2}, 1)
    assert fleet.run("deploy_model", bundle=fleet.bundle(server, 2)).state == "applied"  # forward again: on disk
    assert fleet.run("rollback", bundle=fleet.bundle(server, 1)).state == "applied"  # an older signed manifest
    assert store.current("m") == 1
    assert fleet.run("report_status").detail == {"frames": 7, "bundles": {"m": {"current": 1, "versions": [1, 2]}}}


def _unsigned(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    return {"body": fleet.bundle(server, 3)["body"]}


def _wrong_key(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    return sign_document(fleet.bundle(server, 3)["body"], Ed25519PrivateKey.generate())


def _tampered_manifest(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    signed = json.loads(json.dumps(fleet.bundle(server, 3)))
    signed["body"]["files"][1]["size"] += 1
    return signed  # type: ignore[no-any-return]


def _tampered_file(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    signed = fleet.bundle(server, 3)
    server.tamper["/m/3/weights.bin"] = b"\x00" * (256 * 120)  # same size, other bytes
    return signed


def _other_store(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    return fleet.bundle(server, 3, stores=["s2"])


def _other_device(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    return fleet.bundle(server, 3, devices=["d2", "d3"])


def _downgrade(fleet: Fleet, server: BundleServer) -> dict[str, object]:
    return fleet.bundle(server, 1)


@pytest.mark.parametrize(("make", "reason"), [
    (_unsigned, "unsigned"), (_wrong_key, "not among this box's fleet keys"), (_tampered_manifest, "bad signature"),
    (_tampered_file, "does not match the manifest's"), (_other_store, "not s1/d1"), (_other_device, "not s1/d1"),
    (_downgrade, "downgrade from version 2"),
])
def test_refused_bundles(fleet: Fleet, server: BundleServer, caplog: pytest.LogCaptureFixture, make: object,
                         reason: str) -> None:
    assert fleet.run("deploy_model", bundle=fleet.bundle(server, 2)).state == "applied"
    caplog.clear()
    with caplog.at_level(logging.ERROR, "smartstore.fleet"):
        reply = fleet.run("deploy_model", bundle=make(fleet, server))  # type: ignore[operator]
    assert reply.state == "failed" and reason in (reply.reason or "")
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and reason in lines[0]
    store = fleet.channel.bundles
    assert store.current("m") == 2 and fleet.host.restarts == [store.version_dir("m", 2)]
    assert 3 not in store.versions("m")


def test_a_model_that_does_not_load_keeps_the_old_version(fleet: Fleet, server: BundleServer) -> None:
    fleet.host.fail_restart = True
    assert fleet.run("deploy_model", bundle=fleet.bundle(server, 1)).state == "failed"
    assert fleet.channel.bundles.current("m") is None  # the first bundle: back to model.name from models/
    fleet.host.fail_restart = False
    assert fleet.run("deploy_model", bundle=fleet.bundle(server, 1)).state == "applied"
    fleet.host.fail_restart = True
    reply = fleet.run("deploy_model", bundle=fleet.bundle(server, 2))
    assert reply.state == "failed" and "does not load, kept version 1" in (reply.reason or "")
    assert fleet.channel.bundles.current("m") == 1


def test_signed_config_applied_once_and_never_older(fleet: Fleet) -> None:
    change = {"cameras": {"cam1": {"lines": [{"name": "door", "points": [[0, 10], [100, 10]]}]}}}
    config = sign_bundle(fleet.key, "layout", 5, config=change, stores=["s1"])
    reply = fleet.run("apply_config", config=config)
    assert reply.state == "applied" and fleet.host.applied == [change]
    assert fleet.channel.active_configs() == [change]  # the service applies it again at start-up
    older = sign_bundle(fleet.key, "layout", 4, config={"cameras": {}})
    assert "downgrade" in (fleet.run("apply_config", config=older).reason or "")
    assert fleet.run("apply_config", config=config).detail["note"] == "already active"
    assert fleet.host.applied == [change]


def test_twice_applied_once_and_expired_refused(fleet: Fleet, server: BundleServer) -> None:
    command = Command("deploy_model", "s1", "d1", {"bundle": fleet.bundle(server, 1)})
    for _ in range(2):
        fleet.channel.on_message(command.to_json(), None, b"c")
    request = fleet.channel._queue.get_nowait()
    assert request is not None and fleet.channel._queue.empty()  # the second copy is not queued
    fleet.channel.process(request)
    again = fleet.new_channel()  # the box restarted: the applied ids are on disk
    again.on_message(command.to_json(), None, b"c")
    assert again._queue.empty()
    states = [(r.state, r.reason, r.detail.get("duplicate")) for _, r, _ in fleet.replies]
    assert states == [("accepted", None, None), ("accepted", "duplicate: already queued", None),
                      ("applied", None, None), ("applied", None, True)]
    assert len(fleet.host.restarts) == 1
    late = Command("restart_pipeline", "s1", "d1", expires=utc_now() - timedelta(seconds=1))
    fleet.channel.on_message(late.to_json(), None, b"late")
    assert fleet.replies[-1][1].state == "failed" and "expired" in (fleet.replies[-1][1].reason or "")
    assert fleet.channel._queue.empty() and len(fleet.host.restarts) == 1


def test_malformed_commands_get_a_failed_reply(fleet: Fleet) -> None:
    good = json.loads(Command("report_status", "s1", "d1").to_json())
    for payload in (b"{", json.dumps(dict(good, expires="tomorrow")).encode(),
                    json.dumps(dict(good, command="format_disk")).encode()):
        fleet.channel.on_message(payload, "smartstore/v1/s1/d1/+", b"m")  # a wildcard response topic is not used
        topic, reply, correlation = fleet.replies[-1]
        assert (topic, reply.state, correlation) == ("smartstore/v1/s1/d1/reply", "failed", b"m")
        assert (reply.reason or "").startswith("malformed")
    assert fleet.channel._queue.empty()
