"""Signed artefacts: ed25519 over canonical JSON, for model bundles and configs (``docs/fleet.md``).

A signed document is ``{"body": {...}, "signature": {"alg": "ed25519", "key": KEY_ID, "sig": BASE64}}``; the
signature covers :func:`canonical` ``(body)`` (sorted keys, no spaces, UTF-8). ``KEY_ID`` is the first 16 hex digits
of the sha256 of the raw 32-byte public key, so a box holding several fleet keys (a rotation) knows which to try.

Key files: a private key is PKCS#8 PEM (``smartstore bundle keygen`` writes it mode 0600); a public keys file holds
one key per line as ``ed25519:BASE64`` (the raw 32 bytes), ``#`` comments and blank lines ignored, or PEM blocks.
Both sides import this module: the build side signs (:func:`sign_document`), the edge verifies
(:func:`verify_document`). Needs the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG = "ed25519"
_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


class SignatureError(ValueError):
    """A document that is unsigned, signed by a key the box does not hold, or whose signature does not match."""


def canonical(body: Any) -> bytes:
    """The bytes a signature covers: JSON with sorted keys, no spaces, UTF-8 (no NaN)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The short id a signature names its key by: 16 hex digits of sha256(raw public key)."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_line(key: Ed25519PublicKey) -> str:
    """One line of a public keys file: ``ed25519:BASE64``."""
    return f"{ALG}:{base64.b64encode(raw_public(key)).decode()}"


def generate_keypair(private_path: Path, public_path: Path) -> str:
    """Write a new private key (PEM, mode 0600, never overwritten) and its public line; returns the key id."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_text(public_line(key.public_key()) + "\n")
    return key_id(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an ed25519 private key")
    return key


def parse_public_keys(text: bytes) -> dict[str, Ed25519PublicKey]:
    """Every key in a public keys file (``ed25519:BASE64`` lines and PEM blocks), by key id."""
    keys: list[Ed25519PublicKey] = []
    for block in _PEM.findall(text):
        loaded = serialization.load_pem_public_key(block)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("a PEM public key that is not ed25519")
        keys.append(loaded)
    for line in _PEM.sub(b"", text).decode().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        alg, _, data = line.partition(":")
        if alg != ALG or not data:
            raise ValueError(f"expected 'ed25519:BASE64' per line, got {line[:40]!r}")
        keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(data, validate=True)))
    return {key_id(k): k for k in keys}


def load_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    return parse_public_keys(path.read_bytes())


def sign_document(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``body`` with its signature (the shape :func:`verify_document` takes)."""
    sig = key.sign(canonical(body))
    return {"body": body, "signature": {"alg": ALG, "key": key_id(key.public_key()),
                                        "sig": base64.b64encode(sig).decode()}}


def verify_document(signed: Any, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The body of a signed document, or :class:`SignatureError` saying why not (unsigned, unknown key, bad)."""
    if not isinstance(signed, dict) or not isinstance(signed.get("body"), dict):
        raise SignatureError("not a signed document (no body)")
    signature = signed.get("signature")
    if not isinstance(signature, dict) or not signature.get("sig"):
        raise SignatureError("unsigned")
    if signature.get("alg") != ALG:
        raise SignatureError(f"unsupported signature algorithm {signature.get('alg')!r}")
    key = keys.get(str(signature.get("key")))
    if key is None:
        raise SignatureError(f"signed by key {signature.get('key')!r}, which is not among this box's fleet keys")
    try:
        key.verify(base64.b64decode(str(signature["sig"]), validate=True), canonical(signed["body"]))
    except (InvalidSignature, ValueError):
        raise SignatureError(f"bad signature (key {signature.get('key')})") from None
    body: dict[str, Any] = signed["body"]
    return body


def file_entries(folder: Path, url_base: str) -> list[dict[str, Any]]:
    """``files`` of a model bundle manifest: every file under ``folder`` with its sha256, size and URL
    (``url_base`` + the relative path; the folder is served as is, e.g. by the collector or any HTTPS host)."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        entries.append({"path": rel, "sha256": digest.hexdigest(), "size": path.stat().st_size,
                        "urls": [url_base.rstrip("/") + "/" + rel]})
    return entries


def sign_bundle(key: Ed25519PrivateKey, name: str, version: int, *, folder: Path | None = None,
                url_base: str = "", config: dict[str, Any] | None = None, stores: list[str] | None = None,
                devices: list[str] | None = None) -> dict[str, Any]:
    """A signed model manifest (the files of ``folder``, served under ``url_base``) or, with ``config``, a signed
    config manifest, for ``stores``/``devices`` (default: every one)."""
    from contract.commands import manifest_body

    stores, devices = stores or ["*"], devices or ["*"]
    if config is not None:
        return sign_document(manifest_body("config", name, version, config=config, stores=stores, devices=devices),
                             key)
    if folder is None or not url_base:
        raise ValueError("a model bundle needs its folder and the URL it is served under")
    files = file_entries(folder, url_base)
    return sign_document(manifest_body("model", name, version, files=files, stores=stores, devices=devices), key)
