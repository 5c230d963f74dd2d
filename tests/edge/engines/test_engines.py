"""Engines on real model files: registry, options, bad input, sync vs pipelined results, engine agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.engines.base import EngineError, create, engine_names
from edge.models import Manifest
from edge.vision.preprocess import fit, to_tensor
from tests.edge.models_fixtures import built_manifest, vtest_frames


def ssd_tensors(manifest: Manifest, count: int = 4) -> list[np.ndarray]:
    return [to_tensor(fit(f, manifest.input)[0], manifest.input) for f in vtest_frames(list(range(0, 40 * count, 40)))]


def test_registry_names_the_three_engines() -> None:
    assert engine_names()[:3] == ["openvino", "onnxruntime", "litert"]


def test_unknown_engine_and_device_and_option_are_named(tmp_path: Path) -> None:
    manifest = built_manifest("person-ssdlite")
    path = manifest.path_of(manifest.select("openvino", "fp16"))
    with pytest.raises(EngineError, match="unknown engine 'tensorrt'"):
        create("tensorrt", path)
    with pytest.raises(EngineError, match=r"device.*TPU"):
        create("openvino", path, device="TPU")
    with pytest.raises(EngineError, match="'NPU' is not available"):
        create("openvino", path, device="NPU")
    with pytest.raises(EngineError, match="option 'hint'"):
        create("openvino", path, hint="FAST")
    with pytest.raises(EngineError, match="option 'color'"):
        create("onnxruntime", path, color="red")


def test_missing_and_corrupt_files_fail_cleanly(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        create("openvino", tmp_path / "nothing.xml")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x01 this is not a protobuf" * 10)
    with pytest.raises(EngineError, match="onnxruntime cannot load"):
        create("onnxruntime", bad)
    xml = tmp_path / "model.xml"
    xml.write_text("<net><layers>")
    with pytest.raises(EngineError, match="openvino cannot read"):
        create("openvino", xml)
    tfl = tmp_path / "model.tflite"
    tfl.write_bytes(b"garbage" * 100)
    with pytest.raises(EngineError, match="litert cannot load"):
        create("litert", tfl)


def test_wrong_input_shape_is_reported() -> None:
    manifest = built_manifest("person-ssdlite")
    engine = create("openvino", manifest.path_of(manifest.select("openvino", "fp16")))
    with pytest.raises(EngineError, match="model expects"):
        engine.infer(np.zeros((1, 10, 10, 3), np.uint8))


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_openvino_stream_keeps_order_and_matches_sync(precision: str) -> None:
    manifest = built_manifest("person-ssdlite")
    path = manifest.path_of(manifest.select("openvino", precision))
    tensors = ssd_tensors(manifest)
    sync = [create("openvino", path).infer(t) for t in tensors]
    engine = create("openvino", path, hint="THROUGHPUT", requests=3)
    streamed = list(engine.infer_stream(enumerate(tensors * 2)))
    assert [tag for tag, _ in streamed] == list(range(2 * len(tensors)))
    scores = [out[engine.output_names.index("detection_scores")] for _, out in streamed]
    assert max(float(s.max()) for s in scores) > 0.5  # real people in the frames: something to compare
    for (tag, outputs) in streamed:
        for got, want in zip(outputs, sync[tag % len(tensors)], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("engine", "options"), [("onnxruntime", {"streams": 2, "threads": 1}), ("litert", {})])
def test_other_engines_stream_in_order(engine: str, options: dict[str, int]) -> None:
    manifest = built_manifest("yolo11n")
    item = manifest.select(engine, "fp32")
    runtime = create(engine, manifest.path_of(item), **options)
    frames = vtest_frames([0, 60, 120])
    tensors = [to_tensor(fit(f, manifest.input)[0], manifest.input) for f in frames]
    sync = [runtime.infer(t)[0] for t in tensors]
    assert not np.allclose(sync[0], sync[1])  # different frames, different outputs: the order is observable
    streamed = list(runtime.infer_stream(enumerate(tensors)))
    assert [tag for tag, _ in streamed] == [0, 1, 2]
    for tag, outputs in streamed:
        np.testing.assert_allclose(outputs[0], sync[tag], rtol=1e-5, atol=1e-4)
