"""``smartstore models pull NAME``: official weights from their publishers' URLs, pinned digests, resumable.

Each file is fetched to ``<dest>.part`` with an HTTP ``Range`` request that continues a partial download, checked
against its pinned digest (the publisher's: Open Model Zoo pins SHA-384, the others SHA-256), then renamed into
place. A file that is already present with the right digest is not fetched again. Never run by default: ``make``
and the tests build everything from installed packages; this is for a store that wants the official weights.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from export.common import ExportError

log = logging.getLogger(__name__)

CHUNK = 1 << 16


@dataclass(frozen=True)
class Remote:
    url: str
    digest: str  # "sha256:<hex>" or "sha384:<hex>"
    path: str  # where it goes, relative to models/<name>/


@dataclass(frozen=True)
class Release:
    files: tuple[Remote, ...]
    licence: str
    next_step: str  # what to run after the download


OMZ = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2022.1/models_bin/3/person-detection-retail-0013"
CATALOGUE: dict[str, Release] = {
    "yolo11n-coco": Release(
        (Remote("https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt",
                "sha256:0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
                "build/download/yolo11n.pt"),),
        "AGPL-3.0",
        "smartstore export yolo models/yolo11n-coco/build/download/yolo11n.pt --calib "
        "/usr/share/doc/opencv-doc/examples/data/vtest.avi --out models/yolo11n-coco (person = COCO class 0)",
    ),
    "person-detection-retail-0013": Release(
        (Remote(f"{OMZ}/FP32/person-detection-retail-0013.xml",
                "sha384:0a346bc301457760eed3570a03a650529016505487c8f76bc4fb06d4a68d9ac901def7d5d7d4728b0699ab359dec4cfb",
                "build/download/FP32/person-detection-retail-0013.xml"),
         Remote(f"{OMZ}/FP32/person-detection-retail-0013.bin",
                "sha384:9e0fb51e3b9064657b14ddd8c190f7088fd561a184acd38ba7a7d4c491879e56a5a6d4619810cbbaef36a9653810486a",
                "build/download/FP32/person-detection-retail-0013.bin")),
        "Apache-2.0",
        "OpenVINO IR with a DetectionOutput head ([1, 1, 200, 7]); the runtime has no decoder for it yet",
    ),
}


def digest_of(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fetch(remote: Remote, dest: Path, timeout: float = 30.0) -> bool:
    """Download ``remote`` to ``dest`` (resuming ``dest.part``), verify its digest; False when already present."""
    algorithm, _, expected = remote.digest.partition(":")
    if dest.is_file() and digest_of(dest, algorithm) == expected:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(remote.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if have and response.status != 206:  # the server ignored Range: start over
                have = 0
            with open(part, "ab" if have else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part is complete
            pass
        else:
            raise ExportError(f"download of {remote.url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ExportError(f"download of {remote.url} failed ({getattr(exc, 'reason', exc)}); run the same command "
                          f"again to resume from {part.stat().st_size if part.is_file() else 0} bytes") from None
    actual = digest_of(part, algorithm)
    if actual != expected:
        part.unlink()
        raise ExportError(f"{remote.url}: {algorithm} mismatch (expected {expected[:16]}..., got {actual[:16]}...); "
                          "the partial file was removed")
    part.replace(dest)
    return True


def pull(name: str, root: Path, catalogue: dict[str, Release] | None = None) -> tuple[list[Path], Release]:
    """Fetch every file of release ``name`` under ``root/name``; returns the paths and the release."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if name not in catalogue:
        raise ExportError(f"unknown model {name!r} to pull (known: {', '.join(sorted(catalogue))})")
    release = catalogue[name]
    paths = []
    for remote in release.files:
        dest = root / name / remote.path
        fetched = fetch(remote, dest)
        log.info("%s %s", "fetched" if fetched else "already present:", dest)
        paths.append(dest)
    return paths, release
