"""Build-time model registry: ``BUILDERS[name](folder) -> Manifest`` makes ``models/<name>/`` from pinned sources.

``smartstore models build NAME|--all`` (``make models``) calls :func:`build`, which skips a model whose manifest
lists files that are all present with matching sha256 (seconds), and otherwise runs its builder and saves the
manifest it returns. Builders write their outputs under ``models/<name>/build/`` (git-ignored) and record the
sha256 of each output in the manifest; a builder pins the sha256 of its *inputs* in code and refuses to convert
anything else. A byte-reproducible build (``person-ssdlite``) commits its manifest; the others (``yolo11n``,
``efficientnet-lite0``: random init, quantisers) write a git-ignored manifest on every build, so the sha256s
always describe the files on disk and a build never dirties the checkout.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from edge.models import MANIFEST, Manifest, ModelError, ModelFile, models_dir, sha256_file

log = logging.getLogger(__name__)

Builder = Callable[[Path], Manifest]


def lazy(target: str) -> Builder:
    """``"module:function"`` imported only when called, so listing builders stays light (no torch, no NNCF)."""
    module_name, _, attr = target.partition(":")

    def run(folder: Path) -> Manifest:
        fn: Builder = getattr(importlib.import_module(module_name), attr)
        return fn(folder)

    run.__qualname__ = target
    return run


# name -> builder of models/<name>/ (add one line per model)
BUILDERS: dict[str, Builder] = {
    "person-ssdlite": lazy("export.person_ssdlite:build"),
    "yolo11n": lazy("export.yolo:build_yolo11n"),
    "efficientnet-lite0": lazy("export.embedder:build_efficientnet_lite0"),
}


class BuildError(Exception):
    """A builder cannot run (missing pinned input, wrong input sha256, conversion failure)."""


def file_entry(folder: Path, engine: str, precision: str, path: str, extra: Sequence[str] = (),
               metrics: dict[str, float] | None = None) -> ModelFile:
    """A manifest file entry for ``folder/path`` (and ``extra`` files, e.g. an IR's ``.bin``) with their sha256."""
    return ModelFile(
        engine=engine,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
        path=path,
        sha256=sha256_file(folder / path),
        extra_files={rel: sha256_file(folder / rel) for rel in extra},
        metrics=metrics or {},
    )


def up_to_date(folder: Path) -> bool:
    """True when ``folder/model.yaml`` exists and lists at least one file, all present with matching sha256."""
    if not (folder / MANIFEST).is_file():
        return False
    try:
        manifest = Manifest.load(folder / MANIFEST)
    except ModelError:
        return False
    return bool(manifest.files) and all(error is None for _, error in manifest.verify())


def build(name: str, force: bool = False, root: Path | None = None) -> tuple[Manifest, bool]:
    """Build model ``name`` unless up to date; returns ``(manifest, built)``."""
    if name not in BUILDERS:
        raise BuildError(f"no builder for model {name!r} (known: {', '.join(sorted(BUILDERS)) or 'none'})")
    folder = (root or models_dir()) / name
    if not force and up_to_date(folder):
        return Manifest.load(folder / MANIFEST), False
    start = time.monotonic()
    # Each build runs in a fresh interpreter: converters number graph nodes with process-wide counters, so a model
    # built after another one in the same process would get other bytes (and other sha256s) than a lone build.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        manifest = pool.submit(_run_builder, name, folder).result()
    _keep_metrics(folder / MANIFEST, manifest)
    manifest.save(folder / MANIFEST)
    log.info("built %s in %.1f s", name, time.monotonic() - start)
    return manifest, True


def _run_builder(name: str, folder: Path) -> Manifest:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return BUILDERS[name](folder)


def _keep_metrics(previous_path: Path, manifest: Manifest) -> None:
    """Carry measured metrics over from the previous manifest for files that came out byte-identical."""
    try:
        previous = Manifest.load(previous_path)
    except ModelError:
        return
    measured = {(f.engine, f.precision, f.sha256): f.metrics for f in previous.files}
    for item in manifest.files:
        if not item.metrics:
            item.metrics = measured.get((item.engine, item.precision, item.sha256), {})
