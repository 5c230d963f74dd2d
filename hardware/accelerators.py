"""Accelerators and inference runtimes of a box: OpenVINO and its devices, ONNX Runtime and its execution providers,
LiteRT and its delegates, the Coral Edge TPU (library and devices).

Runtime probes import their library lazily (only when it is installed) and never raise: a broken install is a
warning added to ``notes`` (the probe's warning list) and an empty result. :func:`hardware.probe.probe` gathers them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: Coral Edge TPU USB ids (before and after its firmware is loaded).
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}


class Notes(Protocol):
    """Where a probe puts its warnings (``hardware.probe``'s list, which also logs them)."""

    def add(self, message: str, /) -> None: ...


@dataclass
class OpenVinoInfo:
    installed: bool = False
    version: str | None = None
    devices: list[str] = field(default_factory=list)
    #: per device: FULL_DEVICE_NAME, OPTIMIZATION_CAPABILITIES, DEVICE_ARCHITECTURE where the device reports them
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)

    def capabilities(self, device: str) -> list[str]:
        return list(self.properties.get(device, {}).get("OPTIMIZATION_CAPABILITIES", []))


@dataclass
class RuntimeInfo:
    """ONNX Runtime or LiteRT: installed?, version, and its execution providers / delegates."""

    installed: bool = False
    version: str | None = None
    providers: list[str] = field(default_factory=list)


def find_edgetpu(root: Path) -> tuple[str | None, list[str]]:
    """The Coral Edge TPU runtime library and attached devices (PCIe ``/dev/apex_*``, USB by vendor:product)."""
    library = None
    for lib_dir in ("usr/lib", "usr/lib/*-linux-gnu", "usr/local/lib"):
        hits = sorted(root.glob(f"{lib_dir}/libedgetpu.so.1*"))
        if hits:
            library = "/" + str(hits[0].relative_to(root))
            break
    devices = ["/" + str(p.relative_to(root)) for p in sorted((root / "dev").glob("apex_*"))]
    for usb in sorted((root / "sys/bus/usb/devices").glob("*")):
        try:
            ids = ((usb / "idVendor").read_text().strip(), (usb / "idProduct").read_text().strip())
        except OSError:
            continue
        if ids in CORAL_USB_IDS:
            devices.append(f"usb:{ids[0]}:{ids[1]}")
    return library, devices


def probe_openvino(warnings: Notes) -> OpenVinoInfo:
    """OpenVINO's devices (``core.available_devices``; an NPU is simply listed) and their main properties."""
    if importlib.util.find_spec("openvino") is None:
        return OpenVinoInfo()
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")
    try:
        import openvino as ov

        core = ov.Core()
        info = OpenVinoInfo(installed=True, version=ov.get_version(), devices=list(core.available_devices))
    except Exception as exc:  # a broken install or plugin must not take the probe down
        warnings.add(f"openvino: installed but unusable: {exc}")
        return OpenVinoInfo()
    for device in info.devices:
        props: dict[str, Any] = {}
        try:
            supported = set(core.get_property(device, "SUPPORTED_PROPERTIES"))
        except RuntimeError as exc:
            warnings.add(f"openvino: {device}: cannot list properties: {exc}")
            supported = set()
        for name in ("FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES", "DEVICE_ARCHITECTURE"):
            if name in supported:
                try:
                    value = core.get_property(device, name)
                except RuntimeError as exc:
                    warnings.add(f"openvino: {device} {name}: {exc}")
                    continue
                props[name] = list(value) if isinstance(value, list | tuple) else str(value)
        info.properties[device] = props
    return info


def _version(*distributions: str) -> str | None:
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def probe_onnxruntime(warnings: Notes) -> RuntimeInfo:
    if importlib.util.find_spec("onnxruntime") is None:
        return RuntimeInfo()
    try:
        import onnxruntime

        return RuntimeInfo(True, onnxruntime.__version__, list(onnxruntime.get_available_providers()))
    except Exception as exc:  # e.g. an ImportError from a wheel built for another CPU
        warnings.add(f"onnxruntime: installed but unusable: {exc}")
        return RuntimeInfo()


def probe_litert(edgetpu_library: str | None) -> RuntimeInfo:
    """LiteRT (``ai-edge-litert`` or the older ``tflite-runtime``). XNNPACK is built into its CPU interpreter."""
    if importlib.util.find_spec("ai_edge_litert") is None and importlib.util.find_spec("tflite_runtime") is None:
        return RuntimeInfo()
    delegates = ["XNNPACK"] + (["EdgeTPU"] if edgetpu_library else [])
    return RuntimeInfo(True, _version("ai-edge-litert", "tflite-runtime"), delegates)
