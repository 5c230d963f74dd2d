"""Ultralytics YOLO dataset YAML (``path``, ``train``, ``val``, ``names``) -> image lists and their labels.

Labels follow ultralytics: ``images/...`` -> ``labels/...`` with ``.txt`` per image, one ``class cx cy w h`` row
(normalised) per box. Errors name the YAML file, the field and the path that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from export.calib import IMAGE_SUFFIXES
from export.common import ExportError


@dataclass
class Dataset:
    yaml: Path
    root: Path
    names: list[str]
    train: list[Path]
    val: list[Path]


def _images(spec: Path, yaml_path: Path, field: str) -> list[Path]:
    if spec.is_dir():
        files = sorted(p for p in spec.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    elif spec.suffix == ".txt" and spec.is_file():
        base = spec.parent
        files = [(base / line.strip()).resolve() for line in spec.read_text().splitlines() if line.strip()]
    else:
        raise ExportError(f"dataset {yaml_path}: field {field!r}: {spec} does not exist")
    if not files:
        raise ExportError(f"dataset {yaml_path}: field {field!r}: no images in {spec}")
    return files


def load(path: str | Path, need_train: bool = False) -> Dataset:
    """Read and check a dataset YAML: its ``val`` (and with ``need_train`` its ``train``) images must exist."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"dataset YAML {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ExportError(f"dataset YAML {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    required = ("train", "val", "names") if need_train else ("val", "names")
    if not isinstance(data, dict) or any(not data.get(k) for k in required):
        raise ExportError(f"dataset YAML {path}: needs fields {', '.join(map(repr, required))}")
    root = Path(data.get("path") or path.parent)
    root = root if root.is_absolute() else (path.parent / root)
    if not root.is_dir():
        raise ExportError(f"dataset {path}: field 'path': folder {root} does not exist")
    names = data["names"]
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    val = _images(root / data["val"], path, "val")
    train = _images(root / data["train"], path, "train") if need_train else []
    return Dataset(path, root, [str(n) for n in names], train, val)


def label_path(image: Path) -> Path:
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
    if index is None:
        return image.with_suffix(".txt")
    parts[index] = "labels"
    return Path(*parts).with_suffix(".txt")


def labels(image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``(xyxy boxes in pixels, class ids)`` of one image (empty when it has no label file)."""
    path = label_path(image)
    rows = np.loadtxt(path, ndmin=2, dtype=np.float32) if path.is_file() and path.stat().st_size else np.zeros((0, 5))
    cls, cx, cy, w, h = (rows[:, i] for i in range(5))
    xyxy = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)
    return xyxy.astype(np.float32), cls.astype(np.int64)
