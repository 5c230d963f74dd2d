"""Probe readers on fake proc/sys/dev trees and ``engine: auto`` for each kind of box; the real box too."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hardware.probe import probe
from hardware.select import ProfileError, choose_engine, load_profile, load_profiles
from tests.hardware.fake_boxes import (
    ABSENT,
    ATOM_CPUINFO,
    CORE_ULTRA_CPUINFO,
    LITERT,
    NO_OPENVINO,
    ONNXRUNTIME,
    OPENVINO_CPU,
    OPENVINO_NPU,
    PI4_CPUINFO,
    PI5_CPUINFO,
    make_box,
    write,
)

REPO = Path(__file__).resolve().parents[2]
SMARTSTORE = str(Path(sys.executable).parent / "smartstore")  # the installed entry point


def test_this_x86_box_gets_openvino_int8_with_the_reason() -> None:
    result = probe()
    if result.cpu.arch != "x86_64" or "CPU" not in result.openvino.devices:
        pytest.skip(f"needs an x86-64 box with OpenVINO (this is {result.cpu.arch}, openvino {result.openvino})")
    choice = choose_engine(result)
    assert (choice.engine, choice.device, choice.precision) == ("openvino", "CPU", "int8")
    assert choice.threads == result.cpu.cores
    assert "profile intel-cpu" in choice.reason and "INT8" in choice.reason
    assert "not intel-npu: OpenVINO lists no NPU" in choice.reason


def test_cli_probe_json_shows_choice_and_reason() -> None:
    proc = subprocess.run([SMARTSTORE, "hw", "probe", "--json"], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["probe"]["cpu"]["cores"] >= 1
    assert out["choice"]["engine"] in {"openvino", "onnxruntime", "litert"}
    assert out["choice"]["reason"].startswith(out["probe"]["cpu"]["arch"])


def test_raspberry_pi_5(tmp_path: Path) -> None:
    root = make_box(tmp_path, PI5_CPUINFO, "Raspberry Pi 5 Model B Rev 1.0", {"cpu-thermal": "51850\n"})
    box = probe(root, openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME, litert=LITERT)
    assert (box.cpu.arch, box.cpu.model, box.cpu.cores, box.cpu.isa()) == ("aarch64", "ARM Cortex-A76", 4, ["NEON"])
    assert box.pi_model == "Raspberry Pi 5 Model B Rev 1.0" and box.memory_mb == 7933
    assert [(t.type, t.celsius) for t in box.temperatures] == [("cpu-thermal", 51.85)]
    choice = choose_engine(box)
    assert (choice.profile, choice.engine, choice.precision, choice.delegate) == ("rpi5", "litert", "int8", "XNNPACK")
    assert choice.threads == 4
    assert "Raspberry Pi 5 Model B" in choice.reason and "NEON" in choice.reason


def test_raspberry_pi_4_without_litert_falls_back_within_its_profile(tmp_path: Path) -> None:
    root = make_box(tmp_path, PI4_CPUINFO, "Raspberry Pi 4 Model B Rev 1.4")
    box = probe(root, openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME, litert=ABSENT)
    assert box.cpu.model == "ARM Cortex-A72"
    choice = choose_engine(box)
    assert (choice.profile, choice.engine, choice.precision, choice.threads) == ("rpi4", "onnxruntime", "int8", 4)
    assert choice.rejected == ["rpi4: litert/CPU/int8: litert not installed"]
    assert "litert not installed" in choice.reason
    with_litert = choose_engine(probe(root, openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME, litert=LITERT))
    assert (with_litert.engine, with_litert.delegate) == ("litert", "XNNPACK")


def test_intel_core_ultra_with_npu(tmp_path: Path) -> None:
    root = make_box(tmp_path, CORE_ULTRA_CPUINFO)
    box = probe(root, openvino=OPENVINO_NPU, onnxruntime=ONNXRUNTIME, litert=LITERT)
    assert box.cpu.isa() == ["AVX2", "VNNI"] and box.cpu.cores == 22
    choice = choose_engine(box)
    assert (choice.profile, choice.engine, choice.device, choice.precision) == ("intel-npu", "openvino", "NPU", "int8")
    assert "NPU runs INT8" in choice.reason
    # without an INT8 NPU model the NPU still runs FP16; without any NPU model it goes to the CPU
    fp16 = choose_engine(box, available={("openvino", "fp16"), ("openvino", "int8")})
    assert (fp16.device, fp16.precision) == ("NPU", "int8")
    only_fp16 = choose_engine(box, available={("openvino", "fp16")})
    assert (only_fp16.device, only_fp16.precision) == ("NPU", "fp16")
    assert "no openvino int8 model file" in only_fp16.reason


def test_same_intel_box_without_npu_uses_cpu_int8(tmp_path: Path) -> None:
    root = make_box(tmp_path, CORE_ULTRA_CPUINFO)
    choice = choose_engine(probe(root, openvino=OPENVINO_CPU, onnxruntime=ONNXRUNTIME, litert=LITERT))
    assert (choice.profile, choice.engine, choice.device, choice.precision) == ("intel-cpu", "openvino", "CPU", "int8")
    assert choice.threads == 22 and "VNNI" in choice.reason


@pytest.mark.parametrize(
    ("cpuinfo", "model", "expected_skip"),
    [(ATOM_CPUINFO, None, "not intel-cpu: CPU lacks AVX2"),
     (PI4_CPUINFO.replace("Raspberry Pi 4 Model B Rev 1.4", "Radxa ROCK 5B"), "Radxa ROCK 5B", "not rpi5")],
)
def test_other_boxes_get_the_generic_profile(tmp_path: Path, cpuinfo: str, model: str | None,
                                             expected_skip: str) -> None:
    root = make_box(tmp_path, cpuinfo, model)
    box = probe(root, openvino=OPENVINO_CPU, onnxruntime=ONNXRUNTIME, litert=LITERT)
    assert box.pi_model is None
    choice = choose_engine(box)
    assert (choice.profile, choice.engine, choice.precision) == ("generic", "onnxruntime", "fp32")
    assert expected_skip in choice.reason


def test_no_engine_at_all_is_a_clear_error(tmp_path: Path) -> None:
    box = probe(make_box(tmp_path, ATOM_CPUINFO), openvino=NO_OPENVINO, onnxruntime=ABSENT, litert=ABSENT)
    with pytest.raises(ProfileError, match=r"no inference engine can run on this box.*onnxruntime not installed"):
        choose_engine(box)


def test_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    box = probe(make_box(tmp_path, ATOM_CPUINFO), openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME, litert=ABSENT)
    with pytest.raises(ProfileError, match=r"unknown profile 'jetson' \(known: generic, intel-cpu, intel-npu"):
        choose_engine(box, profile="jetson")
    forced = choose_engine(box, profile="rpi5")  # forcing works, falling through the profile's candidates
    assert (forced.profile, forced.engine, forced.precision) == ("rpi5", "onnxruntime", "int8")
    proc = subprocess.run([SMARTSTORE, "hw", "probe", "--profile", "jetson"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("smartstore: error: unknown profile 'jetson'")
    assert "Traceback" not in proc.stderr
    missing = subprocess.run([SMARTSTORE, "hw", "probe", "--root", str(tmp_path / "nope")], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "no such directory" in missing.stderr


def test_malformed_profile_names_file_and_field(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "name: bad\ndescription: x\npriority: 1\nmatch: {}\nmax_threads: 0\n"
                "candidates: [{engine: openvino, precision: int8}]\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml: field max_threads: .*greater than 0.*got 0"):
        load_profile(bad)
    write(tmp_path, "typo.yaml", "name: t\ndescription: x\npriority: 1\nmatch: {arhc: [x86_64]}\n"
          "candidates: [{engine: openvino, precision: int8}]\n")
    with pytest.raises(ProfileError, match=r"typo\.yaml: field match\.arhc: Extra inputs"):
        load_profile(tmp_path / "typo.yaml")


def test_shipped_profiles_load() -> None:
    assert list(load_profiles()) == ["intel-npu", "intel-cpu", "rpi5", "rpi4", "generic"]


def test_unreadable_and_malformed_thermal_zones_are_skipped_and_logged(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    root = make_box(tmp_path, PI5_CPUINFO, "Raspberry Pi 5 Model B Rev 1.0",
                    {"cpu-thermal": "48000\n", "gpu-thermal": "n/a\n", "rp1-adc": "0"})
    unreadable = root / "sys/class/thermal/thermal_zone2/temp"
    unreadable.unlink()
    unreadable.mkdir()  # reading it fails with EISDIR, like a sensor returning an I/O error
    with caplog.at_level(logging.WARNING, logger="hardware.probe"):
        box = probe(root, openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME, litert=LITERT)
    assert [(t.type, t.celsius) for t in box.temperatures] == [("cpu-thermal", 48.0)]
    assert len(box.warnings) == 2
    assert "malformed temperature 'n/a'" in box.warnings[0] and "thermal_zone1/temp" in box.warnings[0]
    assert "cannot read" in box.warnings[1] and "thermal_zone2/temp" in box.warnings[1]
    assert len([r for r in caplog.records if "thermal" in r.getMessage()]) == 2
    assert choose_engine(box).profile == "rpi5"


def test_cameras_serial_ports_and_edgetpu(tmp_path: Path) -> None:
    root = make_box(tmp_path, PI5_CPUINFO, "Raspberry Pi 5 Model B Rev 1.0")
    write(root, "dev/video0", "")
    write(root, "dev/video10", "")
    write(root, "sys/class/video4linux/video0/name", "HD USB Camera: HD USB Camera\n")
    for name in ("dev/ttyUSB0", "dev/ttyACM0", "dev/serial/by-id/usb-FTDI_FT232R_A50285BI-if00-port0", "dev/tty1"):
        write(root, name, "")
    write(root, "usr/lib/aarch64-linux-gnu/libedgetpu.so.1.0", "")
    write(root, "sys/bus/usb/devices/2-1/idVendor", "18d1\n")
    write(root, "sys/bus/usb/devices/2-1/idProduct", "9302\n")
    box = probe(root, openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME)
    assert [(c.path, c.name) for c in box.cameras] == [("/dev/video0", "HD USB Camera: HD USB Camera"),
                                                      ("/dev/video10", None)]
    assert box.cameras[0].formats is None and "formats unreadable" in (box.cameras[0].note or "")
    assert box.serial_ports == ["/dev/serial/by-id/usb-FTDI_FT232R_A50285BI-if00-port0", "/dev/ttyACM0",
                                "/dev/ttyUSB0"]
    assert box.edgetpu_library == "/usr/lib/aarch64-linux-gnu/libedgetpu.so.1.0"
    assert box.edgetpu_devices == ["usb:18d1:9302"]
    if box.litert.installed:
        assert box.litert.providers == ["XNNPACK", "EdgeTPU"]


def test_cli_probe_reads_a_captured_tree(tmp_path: Path) -> None:
    root = make_box(tmp_path, PI4_CPUINFO, "Raspberry Pi 4 Model B Rev 1.4", {"cpu-thermal": "61000"})
    proc = subprocess.run([SMARTSTORE, "hw", "probe", "--root", str(root)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "board:        Raspberry Pi 4 Model B Rev 1.4" in proc.stdout
    assert "cpu-thermal 61.0 °C" in proc.stdout
    assert "(profile rpi4)" in proc.stdout and "why:" in proc.stdout


def test_hardware_never_imports_edge() -> None:
    code = ("import sys, hardware.probe, hardware.select, hardware.serial_sensors, hardware.cli\n"
            "hardware.select.choose_engine(hardware.probe.probe())\n"
            "bad = sorted(m for m in sys.modules if m == 'edge' or m.startswith('edge.'))\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_threads_respect_the_cpu_affinity_of_a_container_or_taskset() -> None:
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and at least two usable CPUs")
    proc = subprocess.run(["taskset", "-c", "0", SMARTSTORE, "hw", "probe", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["probe"]["cpu"]["cores"] == 1 and out["choice"]["threads"] == 1


def test_an_int8_file_that_needs_vnni_is_skipped_on_a_cpu_without_it(tmp_path: Path) -> None:
    """person-ssdlite's INT8 uses full 8-bit weights: an AVX2-only CPU gets its FP16 file, a VNNI CPU the INT8."""
    needs = {("openvino", "fp16"): [], ("openvino", "int8"): ["vnni"]}
    skylake = CORE_ULTRA_CPUINFO.replace("Core(TM) Ultra 7 155H", "Core(TM) i5-6500").replace(" avx_vnni", "")
    old = probe(make_box(tmp_path / "old", skylake), openvino=OPENVINO_CPU, onnxruntime=ONNXRUNTIME, litert=LITERT)
    assert old.cpu.isa() == ["AVX2"]
    choice = choose_engine(old, available=needs)
    assert (choice.profile, choice.engine, choice.device, choice.precision) == ("intel-cpu", "openvino", "CPU", "fp16")
    assert "openvino/CPU/int8: the openvino int8 file needs VNNI on the CPU (this CPU: AVX2)" in choice.reason
    new = probe(make_box(tmp_path / "new", CORE_ULTRA_CPUINFO), openvino=OPENVINO_CPU, onnxruntime=ONNXRUNTIME,
                litert=LITERT)
    assert choose_engine(new, available=needs).precision == "int8"
    assert choose_engine(old, available=set(needs)).precision == "int8"  # a plain set carries no CPU needs


def test_hottest_temperature_for_health_reports_skips_bad_zones_quietly(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    from hardware.probe import hottest_temperature

    root = make_box(tmp_path, PI5_CPUINFO, thermal={"cpu-thermal": "61250\n", "gpu": "garbage\n", "soc": "48000\n"})
    with caplog.at_level(logging.WARNING):
        assert hottest_temperature(root) == 61.25
    assert not caplog.records  # called every health interval: no warning flood
    assert hottest_temperature(make_box(tmp_path / "bare", PI5_CPUINFO)) is None
