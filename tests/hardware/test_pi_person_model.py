"""``engine: auto`` on the Raspberry Pi profiles with the shipped person model's real manifest: LiteRT INT8 on
XNNPACK (the manifest lists a LiteRT INT8 file, so the Pi profiles' first choice runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.models import Manifest
from hardware.probe import probe
from hardware.select import choose_engine
from tests.hardware.fake_boxes import LITERT, NO_OPENVINO, ONNXRUNTIME, PI4_CPUINFO, PI5_CPUINFO, make_box


@pytest.mark.parametrize(("cpuinfo", "model", "profile"), [
    (PI5_CPUINFO, "Raspberry Pi 5 Model B Rev 1.0", "rpi5"),
    (PI4_CPUINFO, "Raspberry Pi 4 Model B Rev 1.4", "rpi4"),
])
def test_raspberry_pi_runs_the_person_model_on_litert_int8(tmp_path: Path, cpuinfo: str, model: str,
                                                           profile: str) -> None:
    manifest = Manifest.load("person-ssdlite")  # the committed manifest: no build needed to choose
    box = probe(make_box(tmp_path, cpuinfo, model), openvino=NO_OPENVINO, onnxruntime=ONNXRUNTIME, litert=LITERT)
    choice = choose_engine(box, available=manifest.cpu_requirements())
    assert (choice.profile, choice.engine, choice.precision, choice.delegate) == (profile, "litert", "int8", "XNNPACK")
    assert choice.rejected == []
    item = manifest.select(choice.engine, choice.precision)
    assert manifest.architecture_of(item) == "ssd-raw" and not item.cpu_isa  # exact on NEON as on x86
