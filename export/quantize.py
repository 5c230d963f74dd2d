"""INT8 post-training quantisation of an FP32 file per engine, calibrated on the same real images.

* OpenVINO: NNCF ``quantize`` (mixed preset) of the IR.
* ONNX Runtime: static QDQ quantisation (per-channel uint8 weights, uint8 activations, MinMax calibration).
* LiteRT: the AI Edge quantizer's static int8 recipe (int8 weights and activations, float input/output).

Every INT8 file computes the same integers on AVX2-only x86, AVX-512/VNNI/AMX and ARM. x86 CPUs without VNNI
multiply u8 activations by s8 weights with ``pmaddubsw``, which sums two products into int16 and saturates with
full 8-bit weights (2 points of person recall, 0.93 embedder cosine lost on AVX2). So OpenVINO files use 7-bit
weights for convolutions and matrix products (NNCF's overflow fix on every layer; depthwise kernels widen and keep
8 bits), where the pair sum fits. ONNX Runtime files use u8 weights: its u8 x u8 kernels widen to 16 bits before
they multiply, exact at the full 8 bits (7-bit s8 weights, ``reduce_range``, cost 1.7 points of cosine).
LiteRT (XNNPACK) widens before it multiplies: full 8-bit s8.

``keep`` lists regular expressions of node (ONNX/OpenVINO) or tensor (LiteRT) names to leave in float: the mixed
precision knob the accuracy gate turns.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def openvino_int8(src_xml: Path, dst_xml: Path, calib: np.ndarray, keep: Sequence[str] = (), symmetric: bool = False,
                  full_bias_correction: bool = False) -> list[str]:
    """NNCF INT8 of an IR (mixed preset, or symmetric activations: faster, good after ReLU); returns the names of
    the operations kept in float."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    model = ov.Core().read_model(src_xml)
    names = [op.get_friendly_name() for op in model.get_ordered_ops()]
    kept = [n for n in names if any(re.search(p, n) for p in keep)]
    quantized = nncf.quantize(
        model,
        nncf.Dataset([sample[None] for sample in calib]),
        preset=nncf.QuantizationPreset.PERFORMANCE if symmetric else nncf.QuantizationPreset.MIXED,
        subset_size=len(calib),
        fast_bias_correction=not full_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=kept, validate=False) if kept else None,
        advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE),
    )
    dst_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, dst_xml, compress_to_fp16=False)
    return kept


class _Reader:
    """onnxruntime ``CalibrationDataReader`` over an array of samples."""

    def __init__(self, input_name: str, calib: np.ndarray) -> None:
        self._items: Iterator[dict[str, np.ndarray]] = iter({input_name: s[None]} for s in calib)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def onnx_int8(src: Path, dst: Path, calib: np.ndarray, keep: Sequence[str] = (), moving_average: bool = False
              ) -> list[str]:
    """ONNX Runtime static QDQ INT8 (u8 activations and weights: exact on every ISA); returns the names of the
    nodes kept in float. ``moving_average``: activation ranges are the running mean of each input's min/max,
    not the extremes of all inputs (one outlier frame then does not coarsen a tensor's scale)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        kept = [n.name for n in graph.node if any(re.search(p, n.name) for p in keep)]
        dst.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(
            str(prepared), str(dst), _Reader(graph.input[0].name, calib),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
            per_channel=True, calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=kept,
            extra_options={"CalibMovingAverage": moving_average},
        )
    return kept


def litert_int8(src: Path, dst: Path, calib: np.ndarray, keep: Sequence[str] = ()) -> list[str]:
    """AI Edge quantizer static INT8 of a ``.tflite``; returns the tensor patterns kept in float."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import qtyping, quantizer, recipe

    signatures = Interpreter(model_path=str(src)).get_signature_list()
    signature, spec = next(iter(signatures.items()))
    input_name = spec["inputs"][0]
    qt = quantizer.Quantizer(str(src))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    float_ops = [(".*", qtyping.TFLOperationName.INPUT), (".*", qtyping.TFLOperationName.OUTPUT)]
    float_ops += [(pattern, qtyping.TFLOperationName.ALL_SUPPORTED) for pattern in keep]
    for regex, op in float_ops:
        qt.update_quantization_recipe(regex=regex, operation_name=op,
                                      algorithm_key=recipe.AlgorithmName.NO_QUANTIZE)
    result = qt.calibrate({signature: [{input_name: s[None]} for s in calib]})
    dst.parent.mkdir(parents=True, exist_ok=True)
    qt.quantize(calibration_result=result).export_model(str(dst), overwrite=True)
    return list(keep)


def unsigned_weights(src: Path, dst: Path) -> int:
    """Rewrite an ONNX QDQ file's symmetric s8 weights as u8 with zero point 128: the same numbers, now run by ONNX
    Runtime's u8 x u8 kernels, which cannot saturate (for INT8 files made with s8 weights); returns how many."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    count = 0
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        weights = numpy_helper.to_array(inits[node.input[0]])
        if weights.dtype != np.int8:
            continue
        zero_point = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if zero_point is not None and numpy_helper.to_array(inits[zero_point]).any():
            raise ValueError(f"{src}: {node.input[0]} has a non-zero s8 zero point")
        shifted = (weights.astype(np.int16) + 128).astype(np.uint8)
        inits[node.input[0]].CopyFrom(numpy_helper.from_array(shifted, node.input[0]))
        shape = numpy_helper.to_array(inits[zero_point]).shape if zero_point else ()
        name = zero_point or f"{node.input[0]}_zero_point"
        point = numpy_helper.from_array(np.full(shape, 128, np.uint8), name)
        if zero_point:
            inits[zero_point].CopyFrom(point)
        else:
            model.graph.initializer.append(point)
            del node.input[2:]
            node.input.append(name)
        count += 1
    onnx.save(model, str(dst))
    return count
