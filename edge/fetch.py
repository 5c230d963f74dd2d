"""Fetch one bundle file: HTTPS (plain HTTP only from loopback), resumable with HTTP ``Range``, capped at the size
the signed manifest gives, checked against its sha256 before anyone may use it.

Bytes go to ``<target>.part``; a cut connection leaves them there and the next attempt (or the next command) asks
for ``bytes=<have>-``. A server that ignores the range (``200``) starts the file again. Attempts back off with the
one backoff helper (:class:`common.retry.Retry`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from common.retry import Retry
from contract.commands import FileEntry

log = logging.getLogger("smartstore.fleet")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CHUNK = 1 << 16


class FetchError(Exception):
    """A file that could not be fetched intact (the message says which and why)."""


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return
    raise FetchError(f"refusing {url!r}: bundles are fetched over https (plain http only from loopback)")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _get(url: str, part: Path, entry: FileEntry, timeout: float) -> None:
    """One request: append to ``part`` from where it ends; never more than ``entry.size`` bytes in all."""
    have = part.stat().st_size if part.exists() else 0
    if have > entry.size:
        part.unlink()
        have = 0
    if have == entry.size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if have and response.status != 206:
            have = 0  # the server ignored the range: start again
        with part.open("ab" if have else "wb") as out:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                have += len(block)
                if have > entry.size:
                    raise FetchError(f"{entry.path}: {url} sends more than the manifest's {entry.size} bytes")
                out.write(block)
            out.flush()
            os.fsync(out.fileno())


def fetch_file(entry: FileEntry, target: Path, timeout: float = 30.0, attempts: int = 5) -> None:
    """Put ``entry`` at ``target``, verified (size and sha256), resuming what an earlier attempt left."""
    for url in entry.urls:
        check_url(url)
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    retry = Retry(0.2, 5.0)
    error = "no URL"
    for attempt in range(attempts):
        url = entry.urls[attempt % len(entry.urls)]
        try:
            _get(url, part, entry, timeout)
        except (OSError, urllib.error.URLError) as exc:  # a cut connection, a timeout, HTTP errors
            error = f"{url}: {getattr(exc, 'reason', None) or exc}"
            have = part.stat().st_size if part.exists() else 0
            log.warning("fleet: fetching %s stopped at %d of %d bytes (%s); resuming", entry.path, have,
                        entry.size, error)
            time.sleep(retry.next_delay())
            continue
        if part.stat().st_size < entry.size:
            error = f"{url}: ended at {part.stat().st_size} of {entry.size} bytes"
            time.sleep(retry.next_delay())
            continue
        digest = sha256_of(part)
        if digest != entry.sha256:
            part.unlink()
            raise FetchError(f"{entry.path}: sha256 {digest} does not match the manifest's {entry.sha256}")
        os.replace(part, target)
        return
    raise FetchError(f"{entry.path}: not fetched after {attempts} attempts ({error})")
