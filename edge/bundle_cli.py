"""``smartstore bundle keygen|sign``: fleet keys and signed manifests for model bundles and configs, on the build
side (``docs/fleet.md``, Commands and signed bundles). The library is :mod:`contract.signing`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from smartstore import Subparsers, add_command, command_group


def _keygen(args: argparse.Namespace) -> int:
    from contract.signing import generate_keypair
    from errors import SmartstoreError

    try:
        key_id = generate_keypair(args.private, args.public)
    except FileExistsError:
        raise SmartstoreError(f"{args.private} exists: not overwriting a private key") from None
    except OSError as exc:
        raise SmartstoreError(f"cannot write the key pair: {exc}") from None
    print(f"key {key_id}: private {args.private} (keep it off the boxes), public {args.public} (fleet.public_keys)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from contract.signing import load_private_key, sign_bundle
    from edge.yamlfile import read_mapping
    from errors import SmartstoreError

    if (args.dir is None) == (args.config is None):
        raise SmartstoreError("bundle sign: give exactly one of --dir (a model bundle) and --config")
    config = None if args.config is None else read_mapping(args.config, SmartstoreError, "config")
    try:
        signed = sign_bundle(load_private_key(args.key), args.name, args.version, folder=args.dir,
                             url_base=args.url_base or "", config=config, stores=args.store, devices=args.device)
    except (OSError, ValueError) as exc:  # an unreadable key, a name or version the manifest schema refuses
        raise SmartstoreError(f"bundle sign: {exc}") from None
    text = json.dumps(signed, indent=2, sort_keys=True) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
    return 0


def _register_bundle(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "bundle", "fleet signing keys and signed model/config manifests")
    keygen = add_command(group, "keygen", "write a new ed25519 fleet key pair", _keygen)
    keygen.add_argument("--private", type=Path, required=True, help="private key file to create (PEM, mode 0600)")
    keygen.add_argument("--public", type=Path, required=True, help="public key file for the boxes' fleet.public_keys")
    sign = add_command(group, "sign", "sign a manifest: a model bundle folder (--dir, --url-base) or a config "
                       "(--config YAML/JSON: {cameras: {ID: {lines, zones, tracker, shelf}}, model: {confidence}})",
                       _sign)
    sign.add_argument("--key", type=Path, required=True, help="the fleet private key")
    sign.add_argument("--name", required=True, help="bundle name (a model bundle: the model name the boxes run)")
    sign.add_argument("--version", type=int, required=True, help="version, above the one the boxes run")
    sign.add_argument("--dir", type=Path, help="model bundle folder (model.yaml and its files)")
    sign.add_argument("--url-base", help="where the folder is served (https://...), each file at URL/PATH")
    sign.add_argument("--config", type=Path, help="a config change to sign instead of a model bundle")
    sign.add_argument("--store", action="append", help="store it is for (repeatable; default: every store)")
    sign.add_argument("--device", action="append", help="device it is for (repeatable; default: every device)")
    sign.add_argument("--out", type=Path, help="write the signed manifest here (default: stdout)")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_bundle,)
