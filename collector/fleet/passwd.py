"""Mosquitto password-file lines: ``username:$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>``.

:func:`hash_line` uses ``mosquitto_passwd`` when it is on ``PATH`` (the password goes to its standard input, never
its command line) and otherwise computes the same ``$7$`` format Mosquitto 2 reads: PBKDF2-HMAC-SHA512 over a
12-byte random salt, 64-byte digest. Both are checked against a real broker in ``tests/collector``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Mosquitto 2's salt length and default iteration count (``mosquitto_passwd`` writes 101)
SALT_BYTES, ITERATIONS, DIGEST_BYTES = 12, 101, 64


def new_password() -> str:
    """256 random bits, URL-safe: no character a YAML file or ``mosquitto_passwd`` could trip over."""
    return secrets.token_urlsafe(32)


def pbkdf2_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$...`` hash Mosquitto 2 verifies (what ``mosquitto_passwd -H sha512-pbkdf2`` writes)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, DIGEST_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(line: str, password: str) -> bool:
    """Whether a ``user:$7$...`` line accepts ``password`` (what the broker checks)."""
    _user, _, hashed = line.strip().partition(":")
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    expected = pbkdf2_hash(password, base64.b64decode(parts[3]), int(parts[2]))
    return secrets.compare_digest(expected, hashed)


def mosquitto_passwd() -> str | None:
    return shutil.which("mosquitto_passwd")


def hash_line(username: str, password: str, use_tool: bool = True) -> str:
    """``username:<hash>`` for a password file; by ``mosquitto_passwd`` when present (and ``use_tool``)."""
    tool = mosquitto_passwd() if use_tool else None
    if tool is None:
        return f"{username}:{pbkdf2_hash(password)}"
    with tempfile.TemporaryDirectory(prefix="smartstore-passwd-") as tmp:  # 0700: only we read the hash
        scratch = Path(tmp) / "passwd"
        done = subprocess.run([tool, "-c", str(scratch), username], input=f"{password}\n{password}\n", text=True,
                              capture_output=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()[:200]}")
        lines = [line for line in scratch.read_text().splitlines() if line.strip()]
    if len(lines) != 1 or not lines[0].startswith(f"{username}:$"):
        raise RuntimeError("mosquitto_passwd wrote an unexpected password file")
    return lines[0]
