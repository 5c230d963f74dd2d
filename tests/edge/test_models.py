"""Manifest loading, saving, selection and sha256 verification on the real person model files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.models import Manifest, ModelError, available, models_dir, resolve
from tests.edge.models_fixtures import built_manifest


@pytest.fixture
def person_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of models/person-ssdlite under a SMARTSTORE_MODELS folder of the test's own."""
    manifest = built_manifest("person-ssdlite")
    assert manifest.root is not None
    shutil.copytree(manifest.root, tmp_path / "person-ssdlite")
    monkeypatch.setenv("SMARTSTORE_MODELS", str(tmp_path))
    return tmp_path / "person-ssdlite"


def test_load_select_and_verify(person_copy: Path) -> None:
    assert models_dir() == person_copy.parent
    assert available() == ["person-ssdlite"]
    manifest = Manifest.load("person-ssdlite")
    assert manifest.architecture == "ssd" and manifest.labels == ["person"]
    assert manifest.licence == "MIT" and "sha256" in manifest.source
    item = manifest.select("openvino", "int8")
    assert manifest.path_of(item).is_file() and item.extra_files
    assert len(manifest.files) == 6 and [error for _, error in manifest.verify()] == [None] * 6
    assert manifest.class_id("person") == 0


def test_save_round_trip(person_copy: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(person_copy)
    target = manifest.save(tmp_path / "copy")
    assert target == tmp_path / "copy" / "model.yaml"
    again = Manifest.load(target)
    assert again.model_dump() == manifest.model_dump()
    assert again.root == tmp_path / "copy"


def test_sha256_mismatch_is_refused(person_copy: Path) -> None:
    manifest = Manifest.load(person_copy / "model.yaml")
    item = manifest.select("openvino", "int8")
    weights = person_copy / next(iter(item.extra_files))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256 mismatch for .*model\.bin"):
        manifest.verify_file(item)
    results = {(f.engine, f.precision): error for f, error in manifest.verify()}
    assert results["openvino", "fp16"] is None and "sha256 mismatch" in str(results["openvino", "int8"])


def test_missing_file_and_variant(person_copy: Path) -> None:
    manifest = Manifest.load("person-ssdlite")
    with pytest.raises(ModelError, match=r"no litert/fp16 file \(available: openvino/fp16, openvino/int8, "):
        manifest.select("litert", "fp16")
    (person_copy / manifest.select("openvino", "fp16").path).unlink()
    with pytest.raises(ModelError, match="is missing"):
        manifest.verify_file(manifest.select("openvino", "fp16"))


def test_bad_manifests_name_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSTORE_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        resolve("nope")
    bad = tmp_path / "bad" / "model.yaml"
    bad.parent.mkdir()
    bad.write_text("name: [unclosed")
    with pytest.raises(ModelError, match="not valid YAML"):
        Manifest.load("bad")
    bad.write_text("name: x\narchitecture: rcnn\nsource: s\nlicence: MIT\ninput: {width: 1, height: 1}\n")
    with pytest.raises(ModelError, match=r"model\.yaml: field 'architecture'.*'rcnn'"):
        Manifest.load(bad)
    bad.write_text("name: x\narchitecture: ssd\nsource: s\nlicence: MIT\ninput: {width: 0, height: 1}\n")
    with pytest.raises(ModelError, match=r"field 'input\.width'"):
        Manifest.load(bad)
