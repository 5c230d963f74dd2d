"""One choice of model file for every command (``hardware.select.choose_file``) on fake boxes, and through
``edge.models.choose_file`` with a real manifest on this box."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hardware.probe import Probe, probe
from hardware.select import choose_file
from tests.hardware.fake_boxes import (
    CORE_ULTRA_CPUINFO,
    LITERT,
    NO_OPENVINO,
    ONNXRUNTIME,
    OPENVINO_CPU,
    PI5_CPUINFO,
    make_box,
)

# a model with a file that needs VNNI (full 8-bit weights) beside portable ones
FILES = {("openvino", "fp16"): [], ("openvino", "int8"): ["vnni"], ("onnxruntime", "fp32"): [],
         ("onnxruntime", "int8"): []}
SKYLAKE = CORE_ULTRA_CPUINFO.replace("Core(TM) Ultra 7 155H", "Core(TM) i5-6500").replace(" avx_vnni", "")


def box(root: Path, cpuinfo: str, model: str | None = None, openvino: bool = True) -> Probe:
    return probe(make_box(root, cpuinfo, model), openvino=OPENVINO_CPU if openvino else NO_OPENVINO,
                 onnxruntime=ONNXRUNTIME, litert=LITERT)


def test_defaults_are_the_engine_auto_choice_and_never_an_inexact_file(tmp_path: Path) -> None:
    old, new = box(tmp_path / "old", SKYLAKE), box(tmp_path / "new", CORE_ULTRA_CPUINFO)
    assert (choose_file(old, FILES).engine, choose_file(old, FILES).precision) == ("openvino", "fp16")
    assert (choose_file(new, FILES).engine, choose_file(new, FILES).precision) == ("openvino", "int8")
    # an engine named without a precision: its fastest file this CPU runs exactly
    assert choose_file(old, FILES, "openvino").precision == "fp16"
    assert choose_file(new, FILES, "openvino").precision == "int8"
    assert choose_file(old, FILES, "onnxruntime").precision == "int8"
    assert not choose_file(old, FILES).missing and choose_file(old, FILES).device is None  # CPU: engines' default


def test_an_explicit_inexact_file_is_kept_and_names_what_the_box_would_get(tmp_path: Path) -> None:
    old = box(tmp_path / "old", SKYLAKE)
    pick = choose_file(old, FILES, "openvino", "int8")
    assert (pick.engine, pick.precision, pick.missing, pick.instead) == ("openvino", "int8", ["vnni"],
                                                                         ("openvino", "fp16"))
    assert not choose_file(old, FILES, "openvino", "int8", device="GPU").missing  # CPU instructions: CPU only
    assert not choose_file(box(tmp_path / "new", CORE_ULTRA_CPUINFO), FILES, "openvino", "int8").missing


def test_a_box_no_profile_fits_still_gets_a_file(tmp_path: Path) -> None:
    pi = box(tmp_path / "pi", PI5_CPUINFO, openvino=False)
    pick = choose_file(pi, {("openvino", "fp16"): [], ("openvino", "int8"): []})  # no litert/onnx file at all
    assert (pick.engine, pick.precision) == ("openvino", "int8") and "no device profile fits" in pick.reason


def test_every_command_gets_the_same_person_file_on_this_box(caplog: pytest.LogCaptureFixture) -> None:
    """``edge.models.choose_file`` (detect, track, shelf, sku, bench, edge run) agrees with ``engine: auto`` and
    warns once, naming the file, when a file is forced that this CPU cannot run exactly."""
    from edge.models import Manifest
    from edge.models import choose_file as edge_choose
    from hardware.select import choose_engine
    from tests.edge.models_fixtures import built_manifest

    manifest: Manifest = built_manifest("person-ssdlite")
    here = probe()
    auto = choose_engine(here, available=manifest.cpu_requirements())
    item, _ = edge_choose(manifest)
    assert (item.engine, item.precision) == (auto.engine, auto.precision)
    assert not here.cpu.missing(list(item.cpu_isa))
    forced = manifest.model_copy(deep=True)
    forced.root = manifest.root
    forced.select(item.engine, item.precision).cpu_isa = ["neon" if here.cpu.arch == "x86_64" else "avx2"]
    with caplog.at_level(logging.WARNING, logger="edge.models"):
        edge_choose(forced, item.engine, item.precision)
    [record] = caplog.records
    assert str(forced.path_of(item)) in record.getMessage() and "which this CPU lacks" in record.getMessage()


def test_the_shelf_model_on_each_x86_isa(tmp_path: Path) -> None:
    """shelf-products ships an OpenVINO INT8 file with full 8-bit weights (VNNI only) and an ONNX Runtime INT8 file
    with u8 weights (exact everywhere): an AVX2-only box gets the second, a VNNI box the first."""
    from edge.models import Manifest

    files = Manifest.load("shelf-products").cpu_requirements()
    assert files == {("openvino", "int8"): ["vnni"], ("onnxruntime", "int8"): []}
    old, new = box(tmp_path / "old", SKYLAKE), box(tmp_path / "new", CORE_ULTRA_CPUINFO)
    assert (choose_file(old, files).engine, choose_file(old, files).precision) == ("onnxruntime", "int8")
    assert (choose_file(new, files).engine, choose_file(new, files).precision) == ("openvino", "int8")


def test_a_pi_gets_the_profiles_litert_delegate(tmp_path: Path) -> None:
    pi = box(tmp_path / "pi", PI5_CPUINFO, "Raspberry Pi 5 Model B Rev 1.0", openvino=False)
    pick = choose_file(pi, {("litert", "int8"): [], ("litert", "fp32"): [], ("onnxruntime", "int8"): []})
    assert (pick.engine, pick.precision, pick.delegate) == ("litert", "int8", "XNNPACK")
    assert choose_file(pi, {("onnxruntime", "int8"): []}).delegate is None
