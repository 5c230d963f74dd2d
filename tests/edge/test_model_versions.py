"""Model versions: the manifest's ``version`` (shipped, carried over or bumped by builds and exports), a deployed
bundle's signed version in its place, and the ``model`` reference (name, version, sha256) events carry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from contract.events import Event, ModelRef, Record, validate
from edge.bundles import deployed_version
from edge.detector import Detector
from edge.models import Manifest, ModelError, ModelFile, models_dir
from export.build import next_version

SHA = "ab" * 32


def runnable(name: str, engine: str, precision: str) -> tuple[Manifest, ModelFile]:
    """A shipped model file that is present and matches its sha256, or skip."""
    try:
        manifest = Manifest.load(name)
        item = manifest.select(engine, precision)
        manifest.verify_file(item)
    except ModelError as exc:
        pytest.skip(f"{name} {engine}/{precision} not usable here: {exc}")
    return manifest, item


@pytest.mark.parametrize("name", ["person-ssdlite", "shelf-products"])
def test_shipped_manifests_state_their_version(name: str) -> None:
    raw = yaml.safe_load((models_dir() / name / "model.yaml").read_text())
    assert isinstance(raw["version"], int) and raw["version"] >= 1
    assert Manifest.load(name).version == raw["version"]


def test_version_defaults_to_1_and_is_written_and_checked(tmp_path: Path) -> None:
    manifest = Manifest.load("person-ssdlite").model_copy(update={"version": 3, "files": []})
    assert Manifest.load(manifest.save(tmp_path / "m")).version == 3
    bare = yaml.safe_load((tmp_path / "m" / "model.yaml").read_text())
    del bare["version"]
    (tmp_path / "m" / "model.yaml").write_text(yaml.safe_dump(bare))
    assert Manifest.load(tmp_path / "m").version == 1  # manifests written before versions existed
    bare["version"] = 0
    (tmp_path / "m" / "model.yaml").write_text(yaml.safe_dump(bare))
    with pytest.raises(ModelError, match=r"field 'version'.*value 0"):
        Manifest.load(tmp_path / "m")


def test_next_version_keeps_an_identical_rebuild_and_bumps_a_changed_one(tmp_path: Path) -> None:
    assert next_version(tmp_path / "none") == 1
    first = Manifest.load("person-ssdlite").model_copy(update={"version": 4})
    first.save(tmp_path / "m")
    same = Manifest.load(tmp_path / "m")
    assert next_version(tmp_path / "m", same) == 4  # byte-identical files: the same version
    changed = same.model_copy(deep=True)
    changed.files[0].sha256 = SHA
    assert next_version(tmp_path / "m", changed) == 5
    assert next_version(tmp_path / "m") == 5  # an export: always a new version


def test_a_deployed_bundle_takes_its_signed_version(tmp_path: Path) -> None:
    manifest, item = runnable("person-ssdlite", "openvino", "fp16")
    assert manifest.root is not None
    bundle = tmp_path / "versions" / "7"
    for rel in (item.path, *item.extra_files):
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(manifest.path_of(rel), bundle / rel)
    manifest.model_copy(update={"files": [item]}).save(bundle)
    assert deployed_version(bundle) is None  # no signed manifest.json: not an installed bundle
    plain = Detector.from_manifest(str(bundle), engine="openvino", precision="fp16")
    assert plain.ref == ModelRef("person-ssdlite", manifest.version, item.sha256)
    (bundle / "manifest.json").write_text(json.dumps({"body": {"version": 7}, "signature": {}}))
    deployed = Detector.from_manifest(str(bundle), engine="openvino", precision="fp16")
    assert deployed.ref == ModelRef("person-ssdlite", 7, item.sha256)
    (bundle / "manifest.json").write_text("{not json")
    assert deployed_version(bundle) is None


def test_the_envelope_carries_the_model_only_when_one_produced_the_event() -> None:
    ref = ModelRef("person-ssdlite", 2, SHA)
    crossing = Record("footfall.crossing", {"line": "door", "direction": "in", "track_id": 1}, 1.8e9)
    with_model = Event.from_record(crossing, "s1", "d1", "cam", model=ref).to_dict()
    assert with_model["model"] == {"name": "person-ssdlite", "version": 2, "sha256": SHA}
    validate(with_model)
    own = Record("footfall.crossing", crossing.data, crossing.ts, model=ModelRef("other", 9, "cd" * 32))
    assert Event.from_record(own, "s1", "d1", model=ref).to_dict()["model"]["name"] == "other"  # the record's wins
    without = Event.from_record(crossing, "s1", "d1").to_dict()
    assert "model" not in without
    validate(without)
    for bad in ({"name": "m", "version": 0, "sha256": SHA}, {"name": "m", "version": 1, "sha256": "xyz"},
                {"name": "m", "sha256": SHA}):
        with pytest.raises(jsonschema.ValidationError):
            validate({**with_model, "model": bad})


def test_health_model_is_an_object_and_older_edges_name_still_validate() -> None:
    health = Event("device.health", "s1", "d1", 0, {"reason": "periodic",
                                                     "model": {"name": "m", "version": 3, "sha256": SHA}}).to_dict()
    validate(health)
    validate({**health, "data": {"reason": "periodic", "model": "person-ssdlite"}})
    with pytest.raises(jsonschema.ValidationError):
        validate({**health, "data": {"reason": "periodic", "model": {"name": "m", "version": 3}}})
