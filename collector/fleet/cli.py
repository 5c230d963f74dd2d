"""``smartstore fleet ...``: broker accounts for devices and collectors, scoped API tokens, and roll-outs
(:mod:`collector.fleet.rollout_cli`).

Parsing only; handlers import their library lazily. Other fleet features add their subcommands to
:data:`FLEET_COMMANDS` (each takes the ``fleet`` group's subparsers).

Secrets (a new password, a new token) go to standard output once and nowhere else: never to a log.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from collector.fleet import rollout_cli
from smartstore import Subparsers, UserError, add_command, command_group

if TYPE_CHECKING:
    from collector.fleet.enroll import BrokerFiles
    from collector.store import Store

DEFAULT_OUT = Path(".")


def _broker_files(args: argparse.Namespace) -> BrokerFiles:
    from collector.fleet.enroll import BrokerFiles

    return BrokerFiles(args.out, args.prefix)


def _print_account(files: BrokerFiles, username: str, password: str, config: str) -> None:
    print(f"{files.passwd} and {files.acl} rewritten: reload the broker (systemctl reload mosquitto)")
    print(f"add to {config}; the password is shown only this once (the broker keeps a hash):")
    print(f"mqtt:\n  username: {json.dumps(username)}\n  password: {json.dumps(password)}")


def _enroll(args: argparse.Namespace) -> int:
    from collector.fleet.enroll import device_username

    files = _broker_files(args)
    if args.revoke:
        username = device_username(args.store, args.device)
        files.revoke(username)
        print(f"revoked {username}: {files.passwd} and {files.acl} rewritten; reload the broker (systemctl reload "
              "mosquitto) and it drops the device's connection")
        return 0
    enrolled = files.enroll_device(args.store, args.device)
    print(f"enrolled device {args.device!r} of store {args.store!r} as broker account {enrolled.username!r}")
    _print_account(files, enrolled.username, enrolled.password, "the device's edge.yaml")
    return 0


def _enroll_collector(args: argparse.Namespace) -> int:
    files = _broker_files(args)
    if args.revoke:
        files.revoke(args.name)
        print(f"revoked collector account {args.name!r}: reload the broker (systemctl reload mosquitto)")
        return 0
    enrolled = files.enroll_collector(args.name)
    print(f"enrolled collector account {enrolled.username!r} (reads every store, publishes receipts and commands)")
    _print_account(files, enrolled.username, enrolled.password, "collector.yaml (replicas may share it)")
    return 0


def _store(args: argparse.Namespace) -> AbstractContextManager[Store]:
    from collector.cli import opened_store  # not at the top: collector.cli imports this module

    return opened_store(args)


def _token_create(args: argparse.Namespace) -> int:
    from collector.auth import check_scopes, new_token, token_hash

    scopes = check_scopes(args.scope)
    token = new_token()
    with _store(args) as store:
        token_id = store.add_token(args.name or " ".join(scopes), scopes, token_hash(token))
    print(f"token {token_id} ({' '.join(scopes)}): shown only this once, the collector keeps its SHA-256",
          file=sys.stderr)
    print(token)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    def when(ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    with _store(args) as store:
        rows = store.tokens()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'id':>4}  {'created':20}  {'revoked':20}  {'scopes':24}  name")
    for row in rows:
        print(f"{row['id']:>4}  {when(row['created']):20}  {when(row['revoked']):20}  {' '.join(row['scopes']):24}  "
              f"{row['name']}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    with _store(args) as store:
        if not store.revoke_token(args.id):
            raise UserError(f"no live API token with id {args.id} (smartstore fleet token list)")
    print(f"revoked API token {args.id}: refused from the next request on")
    return 0


def _broker_options(parser: argparse.ArgumentParser) -> None:
    from contract.topics import TOPIC_PREFIX

    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of smartstore.passwd, smartstore.acl "
                        "and smartstore-fleet.json (e.g. /etc/mosquitto; default: the current folder)")
    parser.add_argument("--prefix", default=TOPIC_PREFIX, help=f"MQTT topic prefix (default {TOPIC_PREFIX})")
    parser.add_argument("--revoke", action="store_true", help="remove the account instead")


def _register_enroll(group: Subparsers) -> None:
    enroll = add_command(group, "enroll", "broker account for one device: publish only as itself, read only its "
                         "own receipts and commands (prints its mqtt.username/password once)", _enroll)
    enroll.add_argument("store", help="store id")
    enroll.add_argument("device", help="device id")
    _broker_options(enroll)
    collector = add_command(group, "enroll-collector", "broker account for the collector: read everything, publish "
                            "receipts and commands", _enroll_collector)
    collector.add_argument("name", nargs="?", default="collector", help="account name (default collector)")
    _broker_options(collector)


def _register_tokens(group: Subparsers) -> None:
    from collector.cli import _store_options

    tokens = command_group(group, "token", "scoped API tokens: create (shown once), list, revoke")
    create = add_command(tokens, "create", "a new API token; prints it once (the store keeps its SHA-256)",
                         _token_create)
    create.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                        help="read:<store>, read:all or admin; repeat for several")
    create.add_argument("--name", help="what the token is for (default: its scopes)")
    listing = add_command(tokens, "list", "API tokens: id, scopes, created, revoked (never the tokens)", _token_list)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    revoke = add_command(tokens, "revoke", "revoke an API token by id", _token_revoke)
    revoke.add_argument("id", type=int, help="the token's id (fleet token list)")
    for parser in (create, listing, revoke):
        _store_options(parser)


FLEET_COMMANDS: tuple[Callable[[Subparsers], None], ...] = (_register_enroll, _register_tokens, rollout_cli.register)


def register(subparsers: Subparsers) -> None:
    """The ``fleet`` group and its subcommands."""
    group = command_group(subparsers, "fleet", "run a fleet: broker accounts and ACLs, scoped API tokens, staged "
                          "roll-outs")
    for registrar in FLEET_COMMANDS:
        registrar(group)
