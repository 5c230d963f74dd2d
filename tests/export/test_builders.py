"""``make models`` outputs of the export engineer's builders: yolo11n and efficientnet-lite0 manifests, and the
FP32 files of every engine computing the same function on a real frame."""

from __future__ import annotations

import numpy as np

from edge.engines.base import create
from edge.vision.preprocess import fit, to_tensor
from export.build import BUILDERS
from tests.edge.models_fixtures import built_manifest, vtest_frames

ENGINES = ("onnxruntime", "openvino", "litert")


def test_builders_are_registered() -> None:
    assert {"yolo11n", "efficientnet-lite0"} <= set(BUILDERS)


def test_yolo11n_manifest_and_fp32_engine_agreement() -> None:
    manifest = built_manifest("yolo11n")
    assert sorted(manifest.variants()) == sorted((e, p) for e in ENGINES for p in ("fp32", "int8"))
    assert manifest.input.width == 640 and manifest.label_map == {"person": 0} and len(manifest.labels) == 80
    assert {"ultralytics", "openvino", "nncf", "litert-torch", "onnxruntime"} <= set(manifest.tools)
    tensor = to_tensor(fit(vtest_frames([50])[0], manifest.input)[0], manifest.input)
    outputs = {}
    for engine in ENGINES:
        options = {"inference_precision": "f32"} if engine == "openvino" else {}
        outputs[engine] = create(engine, manifest.path_of(manifest.select(engine, "fp32")), **options).infer(tensor)[0]
    ref = outputs["onnxruntime"]
    other = create("onnxruntime", manifest.path_of(manifest.select("onnxruntime", "fp32"))).infer(
        to_tensor(fit(vtest_frames([400])[0], manifest.input)[0], manifest.input))[0]
    frame_change = np.abs(other - ref).max(axis=2)[0]  # per channel: how much another frame moves the output
    assert ref.shape == (1, 84, 8400) and frame_change[:4].min() > 1.0 and frame_change[4:].min() > 1e-6
    for engine in ("openvino", "litert"):
        engine_change = np.abs(outputs[engine] - ref).max(axis=2)[0]
        assert (engine_change < 0.01 * frame_change).all(), (engine, engine_change.max())


def test_efficientnet_lite0_manifest() -> None:
    manifest = built_manifest("efficientnet-lite0")
    assert manifest.task == "embed" and manifest.architecture == "embedder"
    assert (manifest.input.width, manifest.input.resize, manifest.input.mean) == (224, "stretch", [127.0] * 3)
    assert sorted(manifest.variants()) == sorted((e, p) for e in ENGINES for p in ("fp32", "int8"))
