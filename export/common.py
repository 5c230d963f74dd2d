"""Shared export plumbing: the user-facing error, offline environment, tool versions and up-to-date stamps."""

from __future__ import annotations

import os
import shutil
from importlib import metadata
from pathlib import Path

from errors import SmartstoreError

FORMAT_ENGINES = {"onnx": "onnxruntime", "openvino": "openvino", "litert": "litert"}
PRECISIONS = ("fp32", "fp16", "int8")


class ExportError(SmartstoreError):
    """A mistake the user can fix (missing folder, too few images, bad format): reported as one line."""


def configure_offline() -> None:
    """No downloads, no telemetry, a local font for ultralytics (it fetches Arial.ttf otherwise)."""
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from matplotlib import font_manager
    from ultralytics.utils import USER_CONFIG_DIR

    font = Path(font_manager.findfont("DejaVu Sans"))
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = Path(USER_CONFIG_DIR) / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(font, target)


def tool_versions(*packages: str) -> dict[str, str]:
    """Installed versions of the named distributions (the ones an export used)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def parse_list(value: str | list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    """``"onnx,openvino"`` -> ``["onnx", "openvino"]``, refusing values outside ``allowed``."""
    items = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ExportError(f"unsupported {what} {', '.join(bad) or repr(value)} (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(items))
