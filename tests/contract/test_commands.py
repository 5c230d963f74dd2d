"""Commands, replies and signed manifests: typed, checked against their schemas, signatures that catch any change."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.commands import Command, ContractError, Manifest, Reply, check, manifest_body
from contract.events import load_schema, utc_now
from contract.signing import (
    SignatureError,
    key_id,
    load_public_keys,
    parse_public_keys,
    public_line,
    sign_bundle,
    sign_document,
    verify_document,
)


def test_command_round_trip_and_schema() -> None:
    command = Command("deploy_model", "s1", "d1", {"name": "m"}, expires=utc_now() + timedelta(seconds=30))
    parsed = Command.parse(command.to_json())
    assert (parsed.id, parsed.command, parsed.args, parsed.expired()) == (command.id, "deploy_model", {"name": "m"},
                                                                        False)
    assert Command("rollback", "s1", "d1", expires=utc_now() - timedelta(seconds=1)).expired()
    for bad in (b"nope", b"{}", Command("format_disk", "s1", "d1").to_json()):
        with pytest.raises(ContractError):
            Command.parse(bad)


def test_reply_round_trip() -> None:
    reply = Reply("ab" * 16, "apply_config", "s1", "d1", "failed", "expired", {"x": 1})
    assert Reply.parse(reply.to_json()).to_dict() == reply.to_dict()
    check(json.loads(reply.to_json()), "reply")
    for name in ("command", "reply", "manifest"):
        assert load_schema(name)["$id"] == f"smartstore/{name}/1"


def test_signed_manifest_catches_every_change(tmp_path: Path) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = parse_public_keys(f"# fleet\n{public_line(key.public_key())}\n".encode())
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model.yaml").write_text("name: m\n")
    signed = sign_bundle(key, "m", 3, folder=tmp_path / "b", url_base="https://h/m/3", stores=["s1"])
    manifest = Manifest.from_body(verify_document(signed, keys))
    assert (manifest.version, manifest.size, manifest.for_device("s1", "d9"), manifest.for_device("s2", "d1")) == (
        3, 8, True, False)
    assert manifest.files[0].urls == ("https://h/m/3/model.yaml",)
    tampered = json.loads(json.dumps(signed))
    tampered["body"]["version"] = 4
    with pytest.raises(SignatureError, match="bad signature"):
        verify_document(tampered, keys)
    with pytest.raises(SignatureError, match="unsigned"):
        verify_document({"body": signed["body"]}, keys)
    with pytest.raises(SignatureError, match="not among"):
        verify_document(sign_document(signed["body"], other), keys)
    (tmp_path / "keys").write_text(public_line(other.public_key()) + "\n" + public_line(key.public_key()) + "\n")
    assert set(load_public_keys(tmp_path / "keys")) == {key_id(key.public_key()), key_id(other.public_key())}


def test_manifest_schema_refuses_escaping_paths() -> None:
    entry = {"sha256": "0" * 64, "size": 1, "urls": ["https://h/x"]}
    for path in ("../x", "/etc/passwd", "a/../../b", "ok/./x"):
        with pytest.raises(ContractError):
            manifest_body("model", "m", 1, stores=["*"], devices=["*"], files=[dict(entry, path=path)])
    manifest_body("model", "m", 1, stores=["*"], devices=["*"], files=[dict(entry, path="build/ov/model.xml")])
