"""INT8 files that cannot saturate on any CPU, by construction: x86 without VNNI multiplies u8 activations by s8
weights with ``pmaddubsw``, which adds two products in int16 (2 x 255 x 64 = 32,640 fits, 2 x 255 x 127 does not).

So every s8 weight feeding a convolution or matrix product of an OpenVINO INT8 file lies in [-64, 64] (depthwise
kernels widen to int32 first and keep 8 bits), and ONNX Runtime INT8 files use u8 weights (its u8 x u8 kernels
widen to int16 before they multiply). Exactness on the CPU in use is measured by the quality tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.models import Manifest, available
from tests.edge.models_fixtures import built_manifest

PAIRED = ("Convolution", "MatMul")  # reduce over input channels in pairs of u8 x s8 products
LIMIT = 64


def int8_files() -> list[tuple[str, str]]:
    """OpenVINO and ONNX Runtime INT8 files claimed exact everywhere: a file that declares ``cpu_isa: [vnni]``
    (shelf-products' shipped OpenVINO INT8) is one ``engine: auto`` never gives a CPU without VNNI."""
    return [(name, f.engine) for name in available() for f in Manifest.load(name).files
            if f.precision == "int8" and f.engine in ("openvino", "onnxruntime") and "vnni" not in f.cpu_isa]


def weight_consumer(op: Any) -> str:
    """The operation type an i8 weight constant reaches through its dequantisation (Convert, Subtract, Multiply)."""
    node = op
    for _ in range(6):
        consumers = [t.get_node() for t in node.output(0).get_target_inputs()]
        if not consumers:
            return ""
        node = consumers[0]
        if node.get_type_name() not in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose", "Unsqueeze"):
            return str(node.get_type_name())
    return ""


def openvino_wide_weights(path: str) -> list[str]:
    import openvino as ov

    wide = []
    for op in ov.Core().read_model(path).get_ordered_ops():
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8:
            peak = int(np.abs(op.get_data().astype(np.int16)).max())
            if peak > LIMIT and weight_consumer(op) in PAIRED:
                wide.append(f"{op.get_friendly_name()} -> {weight_consumer(op)}: |w| up to {peak}")
    return wide


def onnx_signed_weights(path: str) -> list[str]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    inits = {i.name: i for i in graph.initializer}
    feeds = {inp: n.op_type for n in graph.node for inp in n.input}
    wide = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        values = numpy_helper.to_array(inits[node.input[0]])
        if values.dtype == np.int8 and np.abs(values.astype(np.int16)).max() > LIMIT \
                and feeds.get(node.output[0]) in ("Conv", "MatMul", "Gemm"):
            wide.append(f"{node.input[0]} -> {feeds[node.output[0]]}: s8 up to {np.abs(values).max()}")
    return wide


@pytest.mark.parametrize(("name", "engine"), int8_files())
def test_int8_weights_cannot_saturate_pmaddubsw(name: str, engine: str) -> None:
    manifest = built_manifest(name)
    path = str(manifest.path_of(manifest.select(engine, "int8")))
    wide = openvino_wide_weights(path) if engine == "openvino" else onnx_signed_weights(path)
    assert not wide, f"{name} {engine}/int8: {len(wide)} weight tensors saturate without VNNI, e.g. {wide[:3]}"
