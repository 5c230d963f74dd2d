"""Engine agreement on the YOLO11n test model, on raw output tensors of real frames (holds whatever the weights).

FP32: ONNX Runtime, OpenVINO (executing in f32, not its bf16 default on AVX512_BF16 CPUs) and LiteRT agree within a
max relative error of 1e-3, boxes and class scores each relative to their own scale. INT8: each INT8 file's output
has cosine similarity >= 0.99 with its engine's FP32 output.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.engines.base import create
from edge.models import Manifest, ModelFile
from edge.vision.preprocess import fit, to_tensor
from tests.edge.models_fixtures import built_manifest, vtest_frames

MODEL = "yolo11n"


def raw_outputs(manifest: Manifest, item: ModelFile, tensors: list[np.ndarray]) -> np.ndarray:
    """``[frames, 4 + nc, N]`` outputs with boxes in input pixels (LiteRT's normalised boxes rescaled)."""
    options = {"inference_precision": "f32"} if item.engine == "openvino" else {}
    engine = create(item.engine, manifest.path_of(item), **options)
    out = np.concatenate([engine.infer(t)[0] for t in tensors]).astype(np.float64)
    if item.boxes == "normalized":
        spec = manifest.input
        out[:, :4] *= np.array([spec.width, spec.height, spec.width, spec.height])[None, :, None]
    return out


@pytest.fixture(scope="module")
def yolo() -> tuple[Manifest, list[np.ndarray]]:
    manifest = built_manifest(MODEL)
    frames = vtest_frames([0, 150, 300])
    return manifest, [to_tensor(fit(f, manifest.input)[0], manifest.input) for f in frames]


def relative_errors(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Max |got - ref| over the max |ref|, for the box rows and for the class-score rows."""
    boxes = np.abs(got[:, :4] - ref[:, :4]).max() / np.abs(ref[:, :4]).max()
    scores = np.abs(got[:, 4:] - ref[:, 4:]).max() / np.abs(ref[:, 4:]).max()
    return float(boxes), float(scores)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_fp32_engines_agree(yolo: tuple[Manifest, list[np.ndarray]]) -> None:
    manifest, tensors = yolo
    fp32 = [f for f in manifest.files if f.precision == "fp32"]
    engines = {f.engine for f in fp32}
    if engines != {"openvino", "onnxruntime", "litert"}:
        pytest.skip(f"{MODEL} has FP32 files for {sorted(engines)} only")
    ref_item = next(f for f in fp32 if f.engine == "onnxruntime")
    ref = raw_outputs(manifest, ref_item, tensors)
    assert ref.shape[1] == 4 + len(manifest.labels)
    assert ref[:, 4:].std() > 0 and ref[:, :4].std() > 0  # real, varying outputs: something to compare
    for item in fp32:
        if item is ref_item:
            continue
        boxes, scores = relative_errors(raw_outputs(manifest, item, tensors), ref)
        assert boxes <= 1e-3, f"{item.engine} boxes differ from onnxruntime by {boxes:.2e}"
        assert scores <= 1e-3, f"{item.engine} class scores differ from onnxruntime by {scores:.2e}"


def test_int8_close_to_fp32(yolo: tuple[Manifest, list[np.ndarray]]) -> None:
    manifest, tensors = yolo
    pairs = [(f, next((g for g in manifest.files if g.engine == f.engine and g.precision == "fp32"), None))
             for f in manifest.files if f.precision == "int8"]
    pairs = [(q, f) for q, f in pairs if f is not None]
    if not pairs:
        pytest.skip(f"{MODEL} has no INT8 file with an FP32 twin")
    for int8, fp32 in pairs:
        q, ref = raw_outputs(manifest, int8, tensors), raw_outputs(manifest, fp32, tensors)
        assert ref[:, 4:].std() > 0
        similarity = cosine(q, ref)
        assert similarity >= 0.99, f"{int8.engine} int8 vs fp32 cosine {similarity:.4f}"
