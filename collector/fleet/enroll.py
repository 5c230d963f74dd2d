"""Per-device broker accounts: Mosquitto's password file and ACL file, kept in one folder.

``smartstore fleet enroll STORE DEVICE --out DIR`` keeps three files in ``DIR``:

* ``smartstore-fleet.json``: the registry (topic prefix, accounts and their roles; no secrets);
* ``smartstore.passwd``: Mosquitto's ``password_file`` (one hashed line per account, ``$7$`` PBKDF2-SHA512;
  lines of accounts not in the registry are kept as they are);
* ``smartstore.acl``: Mosquitto's ``acl_file``, rewritten from the registry on every change (plus the lines of
  ``smartstore.acl.local`` when it exists, for accounts of your own).

A device account ``<store>/<device>`` may publish only its own status (and last will) and its own event topics
(``<prefix>/<store>/<device>/<category>/#`` for every event category of the contract) and its command replies,
and read only its own receipt and command topics. A collector account reads everything and publishes receipts
and commands. The broker reads both files at start and on ``SIGHUP`` (``systemctl reload mosquitto``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.fleet.passwd import hash_line, new_password
from contract.events import kinds
from contract.topics import (
    COMMAND,
    RECEIPT,
    REPLY,
    STATUS,
    TOPIC_PREFIX,
    check_prefix,
    command_topic,
    receipt_topic,
    reply_topic,
    status_topic,
)
from errors import SmartstoreError

PASSWD, ACL, LOCAL_ACL = "smartstore.passwd", "smartstore.acl", "smartstore.acl.local"
REGISTRY = "smartstore-fleet.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # store/device ids, as in the event schema
FILE_MODE = 0o640  # root:mosquitto 0640 on a broker host: the broker reads them after dropping privileges


class EnrollError(SmartstoreError):
    """A bad name, a prefix that disagrees with the folder's registry, or an account that does not exist."""


@dataclass(frozen=True, slots=True)
class Enrolled:
    """A new account: ``password`` is shown once and stored nowhere in clear."""

    username: str
    password: str
    passwd_file: Path
    acl_file: Path


def _name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise EnrollError(f"{what} {value!r}: expected 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)")
    return value


def device_username(store: str, device: str) -> str:
    """The broker account of one device: ``<store>/<device>`` (``/`` is in no store or device id)."""
    return f"{_name(store, 'store')}/{_name(device, 'device')}"


def device_writes(store: str, device: str, prefix: str = TOPIC_PREFIX) -> list[str]:
    """What a device publishes: its status (and last will), its command replies and one filter per event category
    of the contract.

    A category named like a device leaf (status, receipt, command, reply) gets its exact kind topics instead, since
    ``<category>/#`` would match the leaf itself."""
    base = f"{prefix}/{store}/{device}"
    categories = sorted({kind.split(".")[0] for kind in kinds()})
    writes = [status_topic(store, device, prefix), reply_topic(store, device, prefix)]
    for category in categories:
        if category in (STATUS, RECEIPT, COMMAND, REPLY):
            writes += [f"{base}/{k.replace('.', '/')}" for k in sorted(kinds()) if k.split(".")[0] == category]
        else:
            writes.append(f"{base}/{category}/#")
    return writes


def acl_text(accounts: dict[str, dict[str, Any]], prefix: str, local: str = "") -> str:
    """The whole ACL file for ``accounts`` (the registry's), collectors first, then devices by name."""
    lines = ["# Written by `smartstore fleet enroll` from smartstore-fleet.json: do not edit, it is rewritten.",
             f"# Accounts of your own: put their lines in {LOCAL_ACL} beside this file.", ""]
    for username, account in sorted(accounts.items(), key=lambda item: (item[1]["role"] != "collector", item[0])):
        lines.append(f"user {username}")
        if account["role"] == "collector":
            lines += [f"topic read {prefix}/#", f"topic write {prefix}/+/+/{RECEIPT}",
                      f"topic write {prefix}/+/+/{COMMAND}"]
        else:
            store, device = account["store"], account["device"]
            lines += [f"topic write {topic}" for topic in device_writes(store, device, prefix)]
            lines += [f"topic read {receipt_topic(store, device, prefix)}",
                      f"topic read {command_topic(store, device, prefix)}"]
        lines.append("")
    return "\n".join(lines) + (f"# from {LOCAL_ACL}\n{local}" if local.strip() else "")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class BrokerFiles:
    """The registry, password file and ACL file in ``folder``; every change holds a lock and rewrites atomically."""

    def __init__(self, folder: Path, prefix: str = TOPIC_PREFIX) -> None:
        try:
            self.prefix = check_prefix(prefix)
        except ValueError as exc:
            raise EnrollError(f"--prefix {prefix!r}: {exc}") from None
        self.folder = Path(folder)
        self.passwd, self.acl = self.folder / PASSWD, self.folder / ACL

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = open(self.folder / ".smartstore-fleet.lock", "a")  # noqa: SIM115 - held for the whole block
        except OSError as exc:
            raise EnrollError(f"cannot write to {self.folder}: {exc.strerror}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            registry = self._registry()
            yield registry
            _write_atomic(self.folder / REGISTRY, json.dumps(registry, indent=2, sort_keys=True) + "\n")
            local = self.folder / LOCAL_ACL
            _write_atomic(self.acl, acl_text(registry["accounts"], self.prefix,
                                             local.read_text() if local.exists() else ""))

    def _registry(self) -> dict[str, Any]:
        path = self.folder / REGISTRY
        if not path.exists():
            return {"version": 1, "prefix": self.prefix, "accounts": {}}
        registry = json.loads(path.read_text())
        if registry.get("prefix") != self.prefix:
            raise EnrollError(f"{path} is for topic prefix {registry.get('prefix')!r}, not {self.prefix!r} "
                              "(use --prefix, or another --out folder)")
        return dict(registry)

    def accounts(self) -> dict[str, dict[str, Any]]:
        return dict(self._registry()["accounts"]) if (self.folder / REGISTRY).exists() else {}

    def _set_password(self, username: str, line: str | None) -> None:
        kept = [entry for entry in (self.passwd.read_text().splitlines() if self.passwd.exists() else [])
                if entry.strip() and entry.partition(":")[0] != username]
        _write_atomic(self.passwd, "".join(f"{entry}\n" for entry in [*kept, *([line] if line else [])]))

    def _enroll(self, username: str, account: dict[str, Any], use_tool: bool) -> Enrolled:
        password = new_password()
        with self._locked() as registry:
            self._set_password(username, hash_line(username, password, use_tool))
            registry["accounts"][username] = account
        return Enrolled(username, password, self.passwd, self.acl)

    def enroll_device(self, store: str, device: str, use_tool: bool = True) -> Enrolled:
        """A new (or a replacement) password for device ``device`` of ``store``; its ACL entries."""
        return self._enroll(device_username(store, device), {"role": "device", "store": store, "device": device},
                            use_tool)

    def enroll_collector(self, name: str = "collector", use_tool: bool = True) -> Enrolled:
        """A collector account (read everything, publish receipts and commands); replicas may share it."""
        return self._enroll(_name(name, "collector account"), {"role": "collector"}, use_tool)

    def revoke(self, username: str) -> None:
        """Remove the account's password line and ACL entries (the broker applies it on reload)."""
        with self._locked() as registry:
            if username not in registry["accounts"]:
                raise EnrollError(f"no account {username!r} in {self.folder / REGISTRY}")
            del registry["accounts"][username]
            self._set_password(username, None)
