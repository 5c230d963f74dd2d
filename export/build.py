"""Build-time model registry: ``BUILDERS[name](folder, engines)`` makes ``models/<name>/`` from pinned sources.

``smartstore models build NAME|--all`` (``make models``) calls :func:`build`, which skips a model whose manifest
lists files that are all present with matching sha256 (seconds), and otherwise runs its builder and saves the
manifest it returns. Builders write their outputs under ``models/<name>/build/`` (git-ignored) and record the
sha256 of each output in the manifest; a builder pins the sha256 of its *inputs* in code and refuses to convert
anything else. A byte-reproducible build (``person-ssdlite``, in :data:`PINNED`) commits its manifest: a build
checks its outputs against the committed sha256s and fails, naming the file and both hashes, when they differ; it
never rewrites them (``repin=True``, ``--repin`` on the command line, accepts new files on purpose). The others
(``yolo11n``, ``efficientnet-lite0``: random init) write a git-ignored manifest on every build. Either way a
build never dirties the checkout.

Reproducible across x86 CPUs: builders run in a fresh interpreter with oneDNN capped at AVX2
(:data:`X86_BUILD_ISA`), so NNCF's calibration and bias-correction inference runs the same kernels, in the same
summation order, on an AVX2-only Core, an AVX-512/VNNI Xeon or an AMX one; the tool versions are pinned by the
``export`` extra.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from edge.models import MANIFEST, Manifest, ModelError, ModelFile, models_dir, sha256_file
from errors import SmartstoreError

log = logging.getLogger(__name__)

#: ``builder(folder, engines)``: ``engines`` None builds every file; a set builds those engines' files (at least)
Builder = Callable[[Path, frozenset[str] | None], Manifest]


def lazy(target: str) -> Builder:
    """``"module:function"`` imported only when called, so listing builders stays light (no torch, no NNCF)."""
    module_name, _, attr = target.partition(":")

    def run(folder: Path, engines: frozenset[str] | None) -> Manifest:
        fn: Builder = getattr(importlib.import_module(module_name), attr)
        return fn(folder, engines)

    run.__qualname__ = target
    return run


# name -> builder of models/<name>/ (add one line per model)
BUILDERS: dict[str, Builder] = {
    "person-ssdlite": lazy("export.person_ssdlite:build"),
    "yolo11n": lazy("export.yolo:build_yolo11n"),
    "efficientnet-lite0": lazy("export.embedder:build_efficientnet_lite0"),
}


#: models whose manifests are committed (byte-reproducible builds): their sha256s are checked, never rewritten
PINNED = frozenset({"person-ssdlite"})
#: oneDNN's ISA cap for builds on x86: the lowest that every supported x86 box has, so every build CPU agrees
X86_BUILD_ISA = "AVX2"


class BuildError(SmartstoreError):
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


def only_engines(name: str, engines: frozenset[str] | None) -> None:
    """:class:`BuildError` for a builder that makes every engine's files at once when asked for a subset."""
    if engines is not None:
        raise BuildError(f"{name} builds the files of every engine together (from torch); --engines is not "
                         "supported for it")


def up_to_date(folder: Path, engines: Collection[str] | None = None) -> bool:
    """True when ``folder/model.yaml`` exists and lists at least one file (of ``engines``, when given), all
    present with matching sha256."""
    if not (folder / MANIFEST).is_file():
        return False
    try:
        manifest = Manifest.load(folder / MANIFEST)
    except ModelError:
        return False
    checked = [error for item, error in manifest.verify() if engines is None or item.engine in engines]
    return bool(checked) and all(error is None for error in checked)


def build(name: str, force: bool = False, root: Path | None = None, repin: bool = False,
          engines: Collection[str] | None = None) -> tuple[Manifest, bool]:
    """Build model ``name`` unless up to date; returns ``(manifest, built)``. ``engines`` builds only those
    engines' files, where the builder can (``make demo``: OpenVINO only, no torch).

    For a :data:`PINNED` model with a manifest, the outputs must match its sha256s (:class:`BuildError` naming
    the file, both hashes and the likely cause otherwise); ``repin`` writes the new sha256s instead.
    """
    if name not in BUILDERS:
        raise BuildError(f"no builder for model {name!r} (known: {', '.join(sorted(BUILDERS)) or 'none'})")
    subset = frozenset(engines) if engines is not None else None
    folder = (root or models_dir()) / name
    if not force and up_to_date(folder, subset):
        return Manifest.load(folder / MANIFEST), False
    pinned = _pinned(name, folder) if not repin else None
    start = time.monotonic()
    # Each build runs in a fresh interpreter: converters number graph nodes with process-wide counters, so a model
    # built after another one in the same process would get other bytes (and other sha256s) than a lone build.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        manifest = pool.submit(_run_builder, name, folder, subset).result()
    log.info("built %s in %.1f s", name, time.monotonic() - start)
    if pinned is not None:
        check_pinned(pinned, manifest, partial=subset is not None)
        return pinned, True
    manifest.version = next_version(folder, manifest)
    _keep_metrics(folder / MANIFEST, manifest)
    manifest.save(folder / MANIFEST)
    return manifest, True


def next_version(folder: Path, manifest: Manifest | None = None) -> int:
    """The ``version`` of a new manifest in ``folder``: the previous manifest's when ``manifest`` lists the same
    files with the same sha256s (a rebuild that came out byte-identical), else one more (1 for the first)."""
    try:
        previous = Manifest.load(folder / MANIFEST)
    except ModelError:
        return 1
    same = manifest is not None and _digests(previous) == _digests(manifest)
    return previous.version if same else previous.version + 1


def _digests(manifest: Manifest) -> set[tuple[str, str, str, str]]:
    return {(f.engine, f.precision, path, digest) for f in manifest.files
            for path, digest in {f.path: f.sha256, **f.extra_files}.items()}


def _pinned(name: str, folder: Path) -> Manifest | None:
    """The committed manifest a build of ``name`` must reproduce, or None when it may write its own."""
    if name not in PINNED or not (folder / MANIFEST).is_file():
        return None
    try:
        return Manifest.load(folder / MANIFEST)
    except ModelError as exc:
        raise BuildError(f"{folder / MANIFEST}: {exc} (restore it from git, or rebuild with --repin)") from None


def check_pinned(pinned: Manifest, built: Manifest, partial: bool = False) -> None:
    """:class:`BuildError` unless ``built`` made exactly the files (``partial``: some of them), with the sha256s,
    that ``pinned`` lists."""
    want = {(f.engine, f.precision): f for f in pinned.files}
    have = {(f.engine, f.precision): f for f in built.files}
    if not have.keys() <= want.keys() or (not partial and want.keys() != have.keys()):
        raise BuildError(f"the build made {sorted(have)} but {pinned.name}'s committed manifest lists {sorted(want)} "
                         "(a builder change: rebuild with --repin to accept it)")
    tools = ", ".join(f"{k} {v} (pinned {pinned.tools.get(k, 'none')})" for k, v in built.tools.items()
                      if v != pinned.tools.get(k))
    cause = (f"other tool versions: {tools}; install the pinned ones (pip install -e '.[export]')" if tools else
             "a builder or input change, or a build outside 'smartstore models build' (uncapped CPU instructions)")
    for key, item in have.items():
        expected = {item.path: want[key].sha256, **want[key].extra_files}
        for path, digest in {item.path: item.sha256, **item.extra_files}.items():
            if expected.get(path) != digest:
                raise BuildError(f"built {pinned.name}/{path} has sha256 {digest}, the committed manifest pins "
                                 f"{expected.get(path)}; likely cause: {cause}; to accept the new files on purpose: "
                                 f"smartstore models build {pinned.name} --force --repin")


def _run_builder(name: str, folder: Path, engines: frozenset[str] | None) -> Manifest:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", X86_BUILD_ISA)  # before OpenVINO loads in this interpreter
    return BUILDERS[name](folder, engines)


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
