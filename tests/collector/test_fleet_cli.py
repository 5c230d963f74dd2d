"""``smartstore fleet ...`` from the command line: secrets are printed once, on standard output only, and stored
nowhere in clear; mistakes are one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.collector.test_cli import smartstore


def _files_text(folder: Path) -> str:
    return "".join(path.read_text() for path in folder.iterdir() if path.is_file())


def test_enroll_prints_the_edge_settings_once_and_revoke_removes_the_device(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    done = smartstore("-vv", "fleet", "enroll", "s1", "till-2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    username, password = (json.loads(line.split(": ", 1)[1]) for line in done.stdout.splitlines()[-2:])
    assert username == "s1/till-2" and len(password) >= 40 and "mqtt:\n  username:" in done.stdout
    assert password not in done.stderr and password not in _files_text(out)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "smartstore-fleet.json", "smartstore.acl", "smartstore.passwd"]
    assert "user s1/till-2\ntopic write smartstore/v1/s1/till-2/status" in (out / "smartstore.acl").read_text()
    collector = smartstore("fleet", "enroll-collector", "--out", str(out))
    assert collector.returncode == 0 and "username: \"collector\"" in collector.stdout
    revoked = smartstore("fleet", "enroll", "s1", "till-2", "--revoke", "--out", str(out))
    assert revoked.returncode == 0, revoked.stderr
    assert "s1/till-2" not in _files_text(out) and "user collector" in (out / "smartstore.acl").read_text()
    for args, message in ((["s1", "till-2", "--revoke"], "no account 's1/till-2'"),
                          (["s 1", "d1"], "store 's 1': expected"),
                          (["s1", "d1", "--prefix", "other/v1"], "for topic prefix 'smartstore/v1', not 'other/v1'")):
        wrong = smartstore("fleet", "enroll", *args, "--out", str(out))
        assert wrong.returncode == 2 and message in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    made = smartstore("-vv", "fleet", "token", "create", "--scope", "read:s1", "--scope", "read:s2", "--name", "dash",
                      "--db", db)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("sst_") and len(token) > 40 and token not in made.stderr
    assert "token 1 (read:s1 read:s2): shown only this once" in made.stderr
    listed = smartstore("fleet", "token", "list", "--json", "--db", db)
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["name"], r["scopes"], r["revoked"]) for r in rows] == [(1, "dash", ["read:s1", "read:s2"],
                                                                                None)]
    files = b"".join(path.read_bytes() for path in tmp_path.glob("c.db*"))  # the database, its WAL
    assert token not in listed.stdout and token.encode() not in files
    assert smartstore("fleet", "token", "revoke", "1", "--db", db).returncode == 0
    assert "dash" in smartstore("fleet", "token", "list", "--db", db).stdout
    for args, message in ((["revoke", "1"], "no live API token with id 1"),
                          (["create", "--scope", "write:s1"], "scope 'write:s1': expected admin, read:all or")):
        wrong = smartstore("fleet", "token", *args, "--db", db)
        assert wrong.returncode == 2 and message in wrong.stderr, wrong.stderr
