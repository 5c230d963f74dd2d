"""Deciding whether a signed manifest may run on this box: signed by a fleet key, well formed, for this store and
device, within the size cap, and newer than the active version (older only for a rollback).

Every refusal is an :class:`ArtefactRefused` whose message is the one log line and the ``failed`` reply's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract.commands import ContractError, Manifest
from contract.signing import SignatureError, load_public_keys, verify_document


class ArtefactRefused(Exception):
    """A manifest this box will not install or activate; the message says why (one line)."""


class Verifier:
    """Checks signed manifests for ``store``/``device`` against the fleet keys in ``keys_path`` (read on use, so a
    rotated key file applies without a restart)."""

    def __init__(self, keys_path: Path, store: str, device: str, max_bytes: int) -> None:
        self.keys_path = keys_path
        self.store = store
        self.device = device
        self.max_bytes = max_bytes

    def keys(self) -> dict[str, Ed25519PublicKey]:
        try:
            return load_public_keys(self.keys_path)
        except (OSError, ValueError) as exc:
            raise ArtefactRefused(f"cannot read the fleet public keys {self.keys_path}: {exc}") from None

    def check(self, signed: Any, kind: str, current: int | None, rollback: bool = False) -> Manifest:
        """The manifest in ``signed`` if it may become the active ``kind`` (model, config); else ArtefactRefused."""
        if signed is None:
            raise ArtefactRefused(f"no signed {kind} manifest in the command")
        try:
            manifest = Manifest.from_body(verify_document(signed, self.keys()))
        except SignatureError as exc:
            raise ArtefactRefused(f"{kind} manifest refused: {exc}") from None
        except ContractError as exc:
            raise ArtefactRefused(f"{kind} manifest refused: malformed: {exc}") from None
        what = f"{manifest.type} {manifest.name} version {manifest.version}"
        if manifest.type != kind:
            raise ArtefactRefused(f"{what} refused: a {manifest.type} manifest where a {kind} was expected")
        if not manifest.for_device(self.store, self.device):
            raise ArtefactRefused(f"{what} refused: signed for stores {list(manifest.stores)} devices "
                                  f"{list(manifest.devices)}, not {self.store}/{self.device}")
        if manifest.size > self.max_bytes:
            raise ArtefactRefused(f"{what} refused: {manifest.size} bytes, over the {self.max_bytes}-byte cap")
        if current is not None and manifest.version < current and not rollback:
            raise ArtefactRefused(f"{what} refused: downgrade from version {current} (only a rollback goes back)")
        if current is not None and manifest.version > current and rollback:
            raise ArtefactRefused(f"{what} refused: a rollback must go below the active version {current}")
        return manifest
