"""Fake proc/sys/dev trees of real boxes (cpuinfo excerpts as those kernels print them) for probe tests."""

from __future__ import annotations

from pathlib import Path

from hardware.probe import OpenVinoInfo, RuntimeInfo

PI5_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
    "asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\n"
    "CPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
    for i in range(4)
) + "Revision\t: d04170\nSerial\t\t: 2b3ab7d1f2ad3f2e\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"

PI4_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    for i in range(4)
) + "Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"

CORE_ULTRA_CPUINFO = "".join(
    f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) Ultra 7 155H\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr lm sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma "
    "avx_vnni sha_ni\n\n"
    for i in range(22)
)

ATOM_CPUINFO = "".join(
    f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Atom(TM) CPU  E3845  @ 1.91GHz\n"
    "flags\t\t: fpu vme de pse tsc msr pae lm sse sse2 ssse3 sse4_1 sse4_2\n\n"
    for i in range(4)
)

MEMINFO = "MemTotal:        8123456 kB\nMemFree:          512000 kB\n"

OPENVINO_CPU = OpenVinoInfo(True, "2026.4", ["CPU"], {"CPU": {"OPTIMIZATION_CAPABILITIES": ["FP32", "INT8", "BIN"]}})
OPENVINO_NPU = OpenVinoInfo(
    True, "2026.4", ["CPU", "GPU", "NPU"],
    {"CPU": {"OPTIMIZATION_CAPABILITIES": ["FP32", "INT8"]}, "GPU": {"OPTIMIZATION_CAPABILITIES": ["FP16", "INT8"]},
     "NPU": {"FULL_DEVICE_NAME": "Intel(R) AI Boost", "OPTIMIZATION_CAPABILITIES": ["FP16", "INT8", "EXPORT_IMPORT"]}},
)
NO_OPENVINO = OpenVinoInfo()
LITERT = RuntimeInfo(True, "2.3.0", ["XNNPACK"])
ONNXRUNTIME = RuntimeInfo(True, "1.32.0", ["CPUExecutionProvider"])
ABSENT = RuntimeInfo()


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def make_box(root: Path, cpuinfo: str, model: str | None = None, thermal: dict[str, str] | None = None) -> Path:
    """A fake ``/`` with proc/cpuinfo, proc/meminfo, the device-tree model and thermal zones (type -> temp)."""
    write(root, "proc/cpuinfo", cpuinfo)
    write(root, "proc/meminfo", MEMINFO)
    if model is not None:
        write(root, "proc/device-tree/model", model.encode() + b"\0")
    for i, (kind, temp) in enumerate((thermal or {}).items()):
        write(root, f"sys/class/thermal/thermal_zone{i}/type", kind + "\n")
        write(root, f"sys/class/thermal/thermal_zone{i}/temp", temp)
    return root
