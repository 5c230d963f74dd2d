"""What is this box? CPU and ISA, memory, accelerators, runtimes, Pi model, cameras, serial ports, temperatures.

Every file reader takes ``root`` (``/`` on a real box, a fake proc/sys/dev tree in tests). Runtime probes
(:mod:`hardware.accelerators`: OpenVINO devices, ONNX Runtime providers, LiteRT, the Edge TPU) import their library
lazily and can be replaced by data (``probe(root, openvino=OpenVinoInfo(...))``) where the library is absent or a
test fakes another machine.
Nothing here raises on a missing or unreadable file: the value is left empty and a warning is logged and kept in
``Probe.warnings``.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import platform
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hardware.accelerators import (
    OpenVinoInfo,
    RuntimeInfo,
    find_edgetpu,
    probe_litert,
    probe_onnxruntime,
    probe_openvino,
)

log = logging.getLogger(__name__)

#: ARM ``CPU part`` ids (implementer 0x41) of the cores found on Raspberry Pis and similar boards.
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76", "0xd0d": "Cortex-A77"}
SERIAL_PATTERNS = ("ttyUSB*", "ttyACM*", "ttyAMA*", "serial[0-9]")
# V4L2 ioctls: VIDIOC_QUERYCAP = _IOR('V', 0, 104 bytes), VIDIOC_ENUM_FMT = _IOWR('V', 2, 64 bytes).
VIDIOC_QUERYCAP, VIDIOC_ENUM_FMT = 0x80685600, 0xC0405602
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1


@dataclass
class CpuInfo:
    arch: str = "unknown"
    model: str = "unknown"
    cores: int = 1
    avx2: bool = False
    avx512: bool = False
    vnni: bool = False
    neon: bool = False

    def isa(self) -> list[str]:
        names = {"avx2": "AVX2", "avx512": "AVX-512", "vnni": "VNNI", "neon": "NEON"}
        return [label for key, label in names.items() if getattr(self, key)]

    def missing(self, needed: Iterable[str]) -> list[str]:
        """Which of ``needed`` (flag names of this class, e.g. ``"vnni"``) this CPU lacks."""
        return [isa for isa in needed if not getattr(self, isa, False)]



@dataclass
class Camera:
    path: str
    name: str | None = None
    formats: list[str] | None = None  # FOURCCs, None when the device could not be queried
    note: str | None = None


@dataclass
class Temperature:
    zone: str
    type: str
    celsius: float


@dataclass
class Probe:
    root: str = "/"
    cpu: CpuInfo = field(default_factory=CpuInfo)
    memory_mb: int | None = None
    pi_model: str | None = None
    openvino: OpenVinoInfo = field(default_factory=OpenVinoInfo)
    onnxruntime: RuntimeInfo = field(default_factory=RuntimeInfo)
    litert: RuntimeInfo = field(default_factory=RuntimeInfo)
    edgetpu_library: str | None = None
    edgetpu_devices: list[str] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    serial_ports: list[str] = field(default_factory=list)
    temperatures: list[Temperature] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def max_temperature(self) -> float | None:
        return max((t.celsius for t in self.temperatures), default=None)


class _Warnings(list[str]):
    def add(self, message: str) -> None:
        log.warning("%s", message)
        self.append(message)


def _read_text(path: Path, warnings: _Warnings, what: str) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.add(f"{what}: cannot read {path}: {exc.strerror or exc}")
        return None


def read_cpu(root: Path, warnings: _Warnings) -> CpuInfo:
    """CPU architecture, model, logical cores and the ISA extensions that matter for inference."""
    text = _read_text(root / "proc/cpuinfo", warnings, "cpu")
    info = CpuInfo()
    if text is None:
        warnings.add(f"cpu: {root / 'proc/cpuinfo'} missing")
        return info
    fields: dict[str, str] = {}
    cores = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        cores += key == "processor"
        fields.setdefault(key, value)
    info.cores = max(cores, 1)
    flags = set(fields.get("flags", "").split())
    features = set(fields.get("Features", "").split())
    if flags:
        info.arch = "x86_64" if "lm" in flags else "x86"
        info.model = fields.get("model name", "unknown x86")
        info.avx2 = "avx2" in flags
        info.avx512 = "avx512f" in flags
        info.vnni = bool({"avx512_vnni", "avx_vnni", "avx512vnni"} & flags)
    elif features or "CPU architecture" in fields:
        info.arch = "aarch64" if fields.get("CPU architecture") == "8" or "asimd" in features else "armv7l"
        part = ARM_PARTS.get(fields.get("CPU part", "").lower())
        info.model = fields.get("model name") or (f"ARM {part}" if part else "unknown ARM")
        info.neon = bool({"asimd", "neon"} & features)
    if root == Path("/"):
        info.arch = platform.machine() if info.arch == "unknown" else info.arch
        info.cores = min(info.cores, len(os.sched_getaffinity(0)))  # a container or taskset may allow fewer
    return info


def read_memory_mb(root: Path, warnings: _Warnings) -> int | None:
    text = _read_text(root / "proc/meminfo", warnings, "memory")
    for line in (text or "").splitlines():
        if line.startswith("MemTotal:"):
            try:
                return int(line.split()[1]) // 1024
            except (IndexError, ValueError):
                warnings.add(f"memory: malformed line {line!r} in {root / 'proc/meminfo'}")
    return None


def read_pi_model(root: Path, warnings: _Warnings) -> str | None:
    """``Raspberry Pi 5 Model B Rev 1.0`` and the like, from the device tree; None elsewhere."""
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        text = _read_text(root / rel, warnings, "device-tree model")
        if text is not None:
            model = text.strip("\0\n ")
            return model if model.startswith("Raspberry Pi") else None
    return None


def read_temperatures(root: Path, warnings: _Warnings) -> list[Temperature]:
    """Thermal zones in °C; an unreadable or malformed zone is skipped with a warning."""
    temps = []
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        raw = _read_text(zone / "temp", warnings, "thermal")
        if raw is None:
            continue
        try:
            millideg = int(raw.strip())
        except ValueError:
            warnings.add(f"thermal: malformed temperature {raw.strip()!r} in {zone / 'temp'}")
            continue
        kind = (_read_text(zone / "type", warnings, "thermal") or "unknown").strip()
        temps.append(Temperature(zone=zone.name, type=kind, celsius=millideg / 1000))
    return temps


class _Quiet(_Warnings):
    def add(self, message: str) -> None:
        self.append(message)


def hottest_temperature(root: Path = Path("/")) -> float | None:
    """The hottest thermal zone in °C, None where the kernel exposes none (quiet: for periodic health reports)."""
    return max((t.celsius for t in read_temperatures(root, _Quiet())), default=None)


def read_serial_ports(root: Path) -> list[str]:
    """USB/ACM/UART serial devices and their stable ``/dev/serial/by-id`` names."""
    dev = root / "dev"
    found = {p for pattern in SERIAL_PATTERNS for p in dev.glob(pattern)}
    found.update((dev / "serial/by-id").glob("*"))
    return sorted("/" + str(p.relative_to(root)) for p in found)


def _v4l2_formats(path: Path) -> list[str]:
    """FOURCCs the capture device offers (VIDIOC_ENUM_FMT); raises OSError when it is not a V4L2 capture device."""
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, bytearray(104))
        formats = []
        for index in range(64):
            buf = bytearray(struct.pack("<II", index, V4L2_BUF_TYPE_VIDEO_CAPTURE) + bytes(56))
            try:
                fcntl.ioctl(fd, VIDIOC_ENUM_FMT, buf)
            except OSError as exc:
                if exc.errno == errno.EINVAL:  # end of the list
                    break
                raise
            fourcc = struct.unpack_from("<I", buf, 44)[0]
            formats.append(fourcc.to_bytes(4, "little").decode("ascii", "replace"))
        return formats
    finally:
        os.close(fd)


def read_cameras(root: Path, warnings: _Warnings) -> list[Camera]:
    cameras = []
    for dev in sorted((root / "dev").glob("video*"), key=lambda p: (len(p.name), p.name)):
        name = _read_text(root / "sys/class/video4linux" / dev.name / "name", warnings, "camera")
        camera = Camera(path="/" + str(dev.relative_to(root)), name=name.strip() if name else None)
        try:
            camera.formats = _v4l2_formats(dev)
        except OSError as exc:
            camera.note = f"formats unreadable: {exc.strerror or exc}"
        cameras.append(camera)
    return cameras



def probe(
    root: Path | str = "/",
    *,
    openvino: OpenVinoInfo | None = None,
    onnxruntime: RuntimeInfo | None = None,
    litert: RuntimeInfo | None = None,
) -> Probe:
    """Everything above for the box at ``root``. Runtime infos not given are probed from the installed libraries."""
    root = Path(root)
    warnings = _Warnings()
    edgetpu_library, edgetpu_devices = find_edgetpu(root)
    result = Probe(
        root=str(root),
        cpu=read_cpu(root, warnings),
        memory_mb=read_memory_mb(root, warnings),
        pi_model=read_pi_model(root, warnings),
        openvino=openvino if openvino is not None else probe_openvino(warnings),
        onnxruntime=onnxruntime if onnxruntime is not None else probe_onnxruntime(warnings),
        litert=litert if litert is not None else probe_litert(edgetpu_library),
        edgetpu_library=edgetpu_library,
        edgetpu_devices=edgetpu_devices,
        cameras=read_cameras(root, warnings),
        serial_ports=read_serial_ports(root),
        temperatures=read_temperatures(root, warnings),
    )
    result.warnings = list(warnings)
    return result
