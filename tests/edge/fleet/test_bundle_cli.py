"""``smartstore bundle keygen|sign``: a key pair, then manifests the box's verifier accepts; mistakes are one line
with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from contract.commands import Manifest
from edge.artefacts import Verifier

REPO = Path(__file__).resolve().parents[3]


def smartstore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartstore", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_keygen_then_sign_a_bundle_and_a_config(tmp_path: Path) -> None:
    key, pub = tmp_path / "fleet.key", tmp_path / "fleet.pub"
    assert smartstore("bundle", "keygen", "--private", str(key), "--public", str(pub)).returncode == 0
    assert key.stat().st_mode & 0o777 == 0o600 and pub.read_text().startswith("ed25519:")
    again = smartstore("bundle", "keygen", "--private", str(key), "--public", str(pub))
    assert again.returncode == 2 and "not overwriting" in again.stderr
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model.yaml").write_text("name: m\n")
    out = tmp_path / "m-2.json"
    signed = smartstore("bundle", "sign", "--key", str(key), "--name", "m", "--version", "2", "--dir",
                        str(tmp_path / "b"), "--url-base", "https://fleet.example/m/2", "--store", "s1", "--out",
                        str(out))
    assert signed.returncode == 0, signed.stderr
    manifest = Verifier(pub, "s1", "d1", 2**20).check(json.loads(out.read_text()), "model", current=1)
    assert manifest == Manifest("model", "m", 2, ("s1",), ("*",), manifest.files)
    assert manifest.files[0].urls == ("https://fleet.example/m/2/model.yaml",)
    (tmp_path / "layout.yaml").write_text("cameras: {cam1: {lines: []}}\n")
    config = smartstore("bundle", "sign", "--key", str(key), "--name", "layout", "--version", "1", "--config",
                        str(tmp_path / "layout.yaml"))
    assert Verifier(pub, "s1", "d1", 2**20).check(json.loads(config.stdout), "config", None).config == {
        "cameras": {"cam1": {"lines": []}}}
    bad = smartstore("bundle", "sign", "--key", str(key), "--name", "../x", "--version", "1", "--config",
                     str(tmp_path / "layout.yaml"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
