"""Model builds: the registry, the quick up-to-date skip, pinned inputs, and the person-ssdlite conversion."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.models import Manifest
from export import person_ssdlite
from export.build import BUILDERS, BuildError, build, up_to_date
from tests.edge.models_fixtures import built_manifest


def test_registry_has_the_shipped_person_model() -> None:
    assert "person-ssdlite" in BUILDERS


def test_up_to_date_build_is_skipped_quickly(tmp_path: Path) -> None:
    manifest = built_manifest("person-ssdlite")
    assert manifest.root is not None
    shutil.copytree(manifest.root, tmp_path / "person-ssdlite")
    start = time.monotonic()
    again, built = build("person-ssdlite", root=tmp_path)
    assert not built and time.monotonic() - start < 5
    assert again.files == manifest.files
    (tmp_path / "person-ssdlite" / "openvino-int8" / "model.bin").write_bytes(b"stale")
    assert not up_to_date(tmp_path / "person-ssdlite")


def test_models_build_cli_skips_and_rejects_unknown() -> None:
    built_manifest("person-ssdlite")
    run = [sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())", "models", "build"]
    ok = subprocess.run([*run, "person-ssdlite"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "person-ssdlite: up to date" in ok.stdout
    bad = subprocess.run([*run, "no-such-model"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("smartstore: error: no builder for no-such-model")


def test_pinned_input_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = person_ssdlite.source_graph()
    assert graph.name == "frozen_inference_graph.pb"
    monkeypatch.setattr(person_ssdlite, "GRAPH_SHA256", "0" * 64)
    with pytest.raises(BuildError, match="is not the pinned"):
        person_ssdlite.source_graph()


def test_conversion_names_ssd_outputs_and_calibration_is_real() -> None:
    model = person_ssdlite.convert(person_ssdlite.source_graph())
    assert sorted(o.get_any_name() for o in model.outputs) == sorted(person_ssdlite.OUTPUTS)
    assert list(model.inputs[0].get_shape()) == [1, 300, 300, 3]
    frames = list(person_ssdlite.calibration_frames(count=5))
    assert len(frames) == 5 and frames[0].shape == (1, 300, 300, 3) and frames[0].dtype == np.uint8
    assert np.std(frames[0]) > 10  # real pictures, not blank frames


def test_built_manifest_records_source_and_outputs() -> None:
    manifest: Manifest = built_manifest("person-ssdlite")
    assert person_ssdlite.GRAPH_SHA256 in manifest.source
    assert {(f.engine, f.precision) for f in manifest.files} == {
        ("openvino", "fp16"), ("openvino", "int8"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
        ("litert", "fp32"), ("litert", "int8")}
    assert manifest.tools["openvino"] and manifest.tools["torch"]  # no NNCF: the INT8 files are shipped
    int8 = manifest.path_of(manifest.select("openvino", "int8")).with_suffix(".bin")
    fp16 = manifest.path_of(manifest.select("openvino", "fp16")).with_suffix(".bin")
    assert int8.stat().st_size < fp16.stat().st_size  # INT8 weights really are smaller


def test_a_pinned_build_that_differs_fails_naming_the_file_both_hashes_and_the_cause() -> None:
    """A committed manifest is checked, never rewritten: other bytes are an error that says what to do."""
    from export.build import PINNED, check_pinned

    pinned = built_manifest("person-ssdlite")
    assert "person-ssdlite" in PINNED
    check_pinned(pinned, pinned.model_copy(deep=True))  # the same files: fine
    built = pinned.model_copy(deep=True)
    item = built.select("openvino", "int8")
    item.sha256 = "f" * 64
    built.tools = {**built.tools, "openvino": "2099.1.0"}
    with pytest.raises(BuildError) as caught:
        check_pinned(pinned, built)
    message = str(caught.value)
    assert f"person-ssdlite/{item.path} has sha256 {'f' * 64}" in message
    assert pinned.select("openvino", "int8").sha256 in message
    assert f"openvino 2099.1.0 (pinned {pinned.tools['openvino']})" in message and "--repin" in message
    built.files.pop()
    with pytest.raises(BuildError, match="builder change"):
        check_pinned(pinned, built)


def test_a_partial_build_is_checked_against_the_pinned_files_it_made() -> None:
    """``--engines openvino`` (make demo, no torch) makes some of the pinned files: those must match, no more."""
    from export.build import check_pinned

    pinned = built_manifest("person-ssdlite")
    built = pinned.model_copy(deep=True)
    built.files = [f for f in built.files if f.engine == "openvino"]
    check_pinned(pinned, built, partial=True)
    with pytest.raises(BuildError, match="builder change"):
        check_pinned(pinned, built)  # a full build must make every file
    built.select("openvino", "fp16").sha256 = "e" * 64
    with pytest.raises(BuildError, match="e" * 64):
        check_pinned(pinned, built, partial=True)


def test_up_to_date_for_some_engines_and_auto_choosing_among_built_files(tmp_path: Path) -> None:
    from edge.models import choose_file

    manifest = built_manifest("person-ssdlite")
    assert manifest.root is not None
    shutil.copytree(manifest.root, tmp_path / "person-ssdlite")
    folder = tmp_path / "person-ssdlite"
    for rel in ("build/onnx-fp32", "build/litert-fp32", "onnx-int8", "litert-int8"):
        shutil.rmtree(folder / rel)  # what an OpenVINO-only build leaves
    assert up_to_date(folder, {"openvino"}) and not up_to_date(folder)
    partial = Manifest.load(folder)
    item, _ = choose_file(partial)
    assert item.engine == "openvino" and partial.path_of(item).is_file()
    assert choose_file(partial, "onnxruntime")[0].engine == "onnxruntime"  # explicit: the file to build is named


def test_engines_subset_is_refused_by_builders_that_make_every_file_at_once(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="--engines is not supported"):
        build("yolo11n", root=tmp_path, engines={"openvino"})
