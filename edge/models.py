"""Model manifests: ``models/<name>/model.yaml`` describes a model's input, labels and files per engine/precision.

The one manifest loader of the codebase. ``Manifest.load`` validates the YAML, ``select`` picks a file for an
engine and precision, ``verify`` checks every recorded sha256 and refuses a mismatch with a message that names the
file. Export code (``export/``) writes manifests through :meth:`Manifest.save`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.engines.base import EngineName
from edge.yamlfile import read_mapping
from errors import SmartstoreError

Precision = Literal["fp32", "fp16", "int8"]
CpuIsa = Literal["avx2", "avx512", "vnni", "neon"]
Architecture = Literal["yolo", "ssd", "ssd-raw", "embedder"]  # the decoder (edge/vision/decoders.py)
MANIFEST = "model.yaml"
_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class ModelError(SmartstoreError):
    """A manifest or model file that cannot be used (missing, corrupt, sha256 mismatch, no such variant)."""


def models_dir() -> Path:
    """Where manifests live: ``$SMARTSTORE_MODELS`` or the repository's ``models/``."""
    env = os.environ.get("SMARTSTORE_MODELS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class InputSpec(BaseModel):
    """How frames become the model's input tensor."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "float16", "uint8"] = "float32"
    color: Literal["RGB", "BGR"] = "RGB"
    mean: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3)
    std: list[float] = Field(default_factory=lambda: [255.0, 255.0, 255.0], min_length=3, max_length=3)
    resize: Literal["letterbox", "stretch"] = "letterbox"


class ModelFile(BaseModel):
    """One runnable file of a model: an engine, a precision, a path (relative to the manifest) and its sha256."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineName
    precision: Precision
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    extra_files: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256 (e.g. an IR's .bin)
    boxes: Literal["pixels", "normalized"] = "pixels"  # YOLO box units (ultralytics' LiteRT export: normalized)
    metrics: dict[str, float] = Field(default_factory=dict)
    # CPU instructions this file needs to compute exactly on a CPU (e.g. vnni: INT8 with full 8-bit weights, which
    # can saturate int16 accumulators on CPUs without VNNI); ``engine: auto`` skips it on a CPU that lacks them
    cpu_isa: list[CpuIsa] = Field(default_factory=list)
    # this file's decoder when it is not the manifest's (person-ssdlite: the OpenVINO files keep the graph's own
    # NMS, ``ssd``; the ONNX and LiteRT files end before it, ``ssd-raw``, with ``ssd-head.json`` in extra_files)
    architecture: Architecture | None = None


class Manifest(BaseModel):
    """``model.yaml``. ``root`` (the manifest's folder) is set by :meth:`load` and not serialised."""

    model_config = ConfigDict(extra="forbid")

    name: str
    # the model's version: monotonic, bumped by every export and by a build whose files changed; events and health
    # carry it (contract.events.ModelRef); a deployed bundle's signed version takes its place (edge/bundles.py)
    version: int = Field(default=1, ge=1)
    task: Literal["detect", "embed"] = "detect"
    architecture: Architecture
    description: str = ""
    source: str
    licence: str
    input: InputSpec
    labels: list[str] = Field(default_factory=list)
    label_map: dict[str, int] = Field(default_factory=dict)
    files: list[ModelFile] = Field(default_factory=list)
    tools: dict[str, str] = Field(default_factory=dict)
    root: Path | None = Field(default=None, exclude=True)

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Load a manifest from a ``model.yaml`` path, its folder, or a model name under :func:`models_dir`."""
        path = resolve(path)
        data = read_mapping(path, ModelError, "manifest")
        try:
            manifest = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ModelError(f"{path}: field {field!r}: {err['msg']} (value {err.get('input')!r})") from None
        manifest.root = path.parent
        return manifest

    def save(self, path: str | Path | None = None) -> Path:
        """Write ``model.yaml`` (to ``path``, or to ``root/model.yaml``); returns the path written."""
        target = Path(path) if path is not None else self._root() / MANIFEST
        if target.suffix not in (".yaml", ".yml"):
            target = target / MANIFEST
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.model_dump(mode="json", exclude_defaults=False)
        target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
        self.root = target.parent
        return target

    def _root(self) -> Path:
        return self.root if self.root is not None else models_dir() / self.name

    def variants(self) -> list[tuple[str, str]]:
        return [(f.engine, f.precision) for f in self.files]

    def architecture_of(self, item: ModelFile) -> str:
        """The decoder of ``item``: its own ``architecture`` or the manifest's."""
        return item.architecture or self.architecture

    def cpu_requirements(self, built_only: bool = False) -> dict[tuple[str, str], list[str]]:
        """``(engine, precision)`` -> the CPU instructions that file needs (for ``engine: auto``); ``built_only``:
        only the files on disk (a partial build, e.g. ``make demo``'s OpenVINO-only one)."""
        return {(f.engine, f.precision): list(f.cpu_isa) for f in self.files
                if not built_only or self.path_of(f).is_file()}

    def select(self, engine: str, precision: str | None = None) -> ModelFile:
        """The file for ``engine`` at ``precision`` (None: the first listed for that engine)."""
        for item in self.files:
            if item.engine == engine and (precision is None or item.precision == precision):
                return item
        have = ", ".join(f"{e}/{p}" for e, p in self.variants()) or "none"
        want = f"{engine}/{precision}" if precision else engine
        raise ModelError(f"model {self.name!r} has no {want} file (available: {have})")

    def path_of(self, item: ModelFile | str) -> Path:
        """Absolute path of a file of this model (a :class:`ModelFile` or a path relative to the manifest)."""
        rel = item.path if isinstance(item, ModelFile) else item
        return self._root() / rel

    def verify_file(self, item: ModelFile) -> None:
        """Check that ``item`` and its extra files exist and match their sha256; raise :class:`ModelError`."""
        for rel, expected in {item.path: item.sha256, **item.extra_files}.items():
            path = self.path_of(rel)
            if not path.is_file():
                raise ModelError(f"model {self.name!r}: file {path} is missing (build it: smartstore models build "
                                 f"{self.name})")
            actual = sha256_file(path)
            if actual != expected:
                raise ModelError(f"model {self.name!r}: sha256 mismatch for {path}: manifest has {expected[:12]}..., "
                                 f"file has {actual[:12]}... (corrupt or stale: rebuild it)")

    def verify(self) -> list[tuple[ModelFile, str | None]]:
        """Check every file; returns ``(file, None)`` when good or ``(file, error message)``."""
        results: list[tuple[ModelFile, str | None]] = []
        for item in self.files:
            try:
                self.verify_file(item)
                results.append((item, None))
            except ModelError as exc:
                results.append((item, str(exc)))
        return results

    def class_id(self, label: str) -> int:
        """Class id of ``label`` (``label_map`` first, then ``labels``)."""
        if label in self.label_map:
            return self.label_map[label]
        if label in self.labels:
            return self.labels.index(label)
        raise ModelError(f"model {self.name!r} has no label {label!r}")


@cache
def _box() -> Any:
    from hardware.probe import probe

    return probe()


def choose_file(manifest: Manifest, engine: str = "auto", precision: str | None = None,
                device: str | None = None) -> tuple[ModelFile, dict[str, str]]:
    """The file of ``manifest`` this box runs, and the engine options the choice implies (``device``, a LiteRT
    ``delegate``): the same choice as ``engine: auto`` for every command (:func:`hardware.select.choose_file`). An
    explicit file this CPU cannot run exactly is kept, with one warning naming it, the missing instructions and the
    file this box would have been given. ``engine="auto"`` chooses among the files that are built (all of them
    when none is, so that the error names the file to build)."""
    from hardware.select import choose_file as choose

    files = (engine == "auto" and manifest.cpu_requirements(built_only=True)) or manifest.cpu_requirements()
    pick = choose(_box(), files, engine, precision, device)
    item = manifest.select(pick.engine, pick.precision)
    log.info("%s: %s/%s: %s", manifest.name, item.engine, item.precision, pick.reason)
    if pick.missing:
        instead = f"; it would have chosen {'/'.join(pick.instead)}" if pick.instead else ""
        log.warning("%s: %s needs %s, which this CPU lacks: results may be inexact%s", manifest.name,
                    manifest.path_of(item), ", ".join(pick.missing).upper(), instead)
    implied = {"device": pick.device, "delegate": pick.delegate}
    return item, {key: value for key, value in implied.items() if value is not None}


def resolve(name_or_path: str | Path) -> Path:
    """``model.yaml`` path for a model name, a manifest path or a model folder."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    if path.is_dir() and (path / MANIFEST).is_file():
        return path / MANIFEST
    candidate = models_dir() / str(name_or_path) / MANIFEST
    if candidate.is_file():
        return candidate
    known = ", ".join(available()) or "none"
    raise ModelError(f"unknown model {str(name_or_path)!r}: no {candidate} (known models: {known})")


def available() -> list[str]:
    """Names of the models with a manifest under :func:`models_dir`."""
    root = models_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}")) if root.is_dir() else []


def describe_file(manifest: Manifest, item: ModelFile) -> dict[str, Any]:
    """A JSON-able row for ``models list``."""
    path = manifest.path_of(item)
    paths = [path, *(manifest.path_of(rel) for rel in item.extra_files)]
    present = all(p.is_file() for p in paths)
    return {
        "model": manifest.name,
        "engine": item.engine,
        "precision": item.precision,
        "path": str(path),
        "present": present,
        "size_mb": round(sum(p.stat().st_size for p in paths) / 1e6, 2) if present else None,
        "metrics": item.metrics,
        "cpu_isa": list(item.cpu_isa),
    }
