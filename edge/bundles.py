"""Versioned bundles on the box: fetched, verified, then activated atomically; old versions stay for rollback.

```
<bundle_dir>/<name>/staging/<version>/     a download in progress (resumable: .part files)
<bundle_dir>/<name>/versions/<version>/    a complete, verified version: its files and manifest.json (signed)
<bundle_dir>/<name>/current -> versions/<version>     the active one: a symlink switched with os.replace
```

A version moves from ``staging`` to ``versions`` with one ``rename`` once every file matches its sha256, and
becomes active with one ``os.replace`` of the ``current`` link (then the folder is fsynced), so a ``kill -9`` or a
power cut at any step leaves the old or the new version active, never neither and never a half-written one.
The newest ``keep`` versions stay on disk (always the active one and the one before it).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.commands import Manifest
from edge.fetch import FetchError, fetch_file, sha256_of

MANIFEST = "manifest.json"
Step = Callable[[str], None]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def deployed_version(folder: Path | None) -> int | None:
    """The signed version of the bundle in ``folder`` (a ``versions/<version>`` folder with its ``manifest.json``),
    or None when ``folder`` is not an installed bundle."""
    path = None if folder is None else folder / MANIFEST
    if path is None or not path.is_file():
        return None
    try:
        version = json.loads(path.read_text())["body"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, int) else None


class BundleStore:
    """The bundles under ``root`` (``fleet.bundle_dir``); ``step`` is called between activation steps (tests)."""

    def __init__(self, root: Path, keep: int = 3, step: Step | None = None) -> None:
        self.root = root
        self.keep = keep
        self._step = step or (lambda _name: None)

    def _dir(self, name: str) -> Path:
        return self.root / name

    def version_dir(self, name: str, version: int) -> Path:
        return self._dir(name) / "versions" / str(version)

    def current(self, name: str) -> int | None:
        """The active version of ``name``, or None."""
        link = self._dir(name) / "current"
        try:
            return int(Path(os.readlink(link)).name)
        except (OSError, ValueError):
            return None

    def current_dir(self, name: str) -> Path | None:
        version = self.current(name)
        return None if version is None else self.version_dir(name, version)

    def versions(self, name: str) -> list[int]:
        folder = self._dir(name) / "versions"
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []

    def signed(self, name: str, version: int) -> dict[str, Any]:
        """The signed manifest a version was installed from (re-verified before a rollback)."""
        loaded: dict[str, Any] = json.loads((self.version_dir(name, version) / MANIFEST).read_text())
        return loaded

    def describe(self) -> dict[str, dict[str, Any]]:
        """``{name: {current, versions}}`` for report_status."""
        names = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
        return {n: {"current": self.current(n), "versions": self.versions(n)} for n in names}

    # ---- install and activate ------------------------------------------------------------------------------
    def install(self, signed: dict[str, Any], manifest: Manifest, timeout: float = 30.0, attempts: int = 5) -> Path:
        """Fetch and verify every file of ``manifest`` into ``versions/<version>`` (not yet active)."""
        final = self.version_dir(manifest.name, manifest.version)
        if final.is_dir():
            self.verify(manifest.name, manifest.version, manifest)
            return final
        staging = self._dir(manifest.name) / "staging" / str(manifest.version)
        staging.mkdir(parents=True, exist_ok=True)
        for entry in manifest.files:
            target = staging / entry.path
            if not (target.is_file() and sha256_of(target) == entry.sha256):
                fetch_file(entry, target, timeout, attempts)
        (staging / MANIFEST).write_text(json.dumps(signed, sort_keys=True))
        self._fsync_tree(staging)
        self._step("verified")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
        _fsync_dir(final.parent)
        self._step("installed")
        return final

    def verify(self, name: str, version: int, manifest: Manifest) -> None:
        """``FetchError`` unless every file of an installed version still matches ``manifest``."""
        folder = self.version_dir(name, version)
        for entry in manifest.files:
            path = folder / entry.path
            if not path.is_file() or path.stat().st_size != entry.size or sha256_of(path) != entry.sha256:
                raise FetchError(f"{name} version {version}: {entry.path} on disk does not match its sha256")

    def activate(self, name: str, version: int) -> None:
        """Make ``version`` (installed) the active one: a new link, then one ``os.replace`` over ``current``."""
        base = self._dir(name)
        if not self.version_dir(name, version).is_dir():
            raise FetchError(f"{name} version {version} is not on this box")
        tmp = base / "current.new"
        tmp.unlink(missing_ok=True)
        os.symlink(Path("versions") / str(version), tmp)
        self._step("linked")
        os.replace(tmp, base / "current")
        _fsync_dir(base)
        self._step("activated")
        self.prune(name)

    def deactivate(self, name: str) -> None:
        """No active version of ``name`` (the installed ones stay)."""
        (self._dir(name) / "current").unlink(missing_ok=True)
        _fsync_dir(self._dir(name))

    def previous(self, name: str) -> int | None:
        """The newest installed version below the active one (what rollback goes back to)."""
        current = self.current(name)
        older = [v for v in self.versions(name) if current is None or v < current]
        return older[-1] if older else None

    def prune(self, name: str) -> None:
        """Keep the newest ``keep`` versions, and always the active one; drop abandoned downloads of old versions."""
        current = self.current(name)
        versions = self.versions(name)
        for version in versions[:-self.keep]:
            if version != current:
                shutil.rmtree(self.version_dir(name, version), ignore_errors=True)
        staging = self._dir(name) / "staging"
        for folder in staging.iterdir() if staging.is_dir() else []:
            if folder.name.isdigit() and current is not None and int(folder.name) <= current:
                shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _fsync_tree(folder: Path) -> None:
        for path in folder.rglob("*"):
            if path.is_file():
                with path.open("rb") as f:
                    os.fsync(f.fileno())
        for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
            _fsync_dir(path)
