"""A TF Object Detection API SSD graph (converted by OpenVINO) as ONNX and LiteRT files with raw outputs.

ONNX Runtime and LiteRT cannot run the graph's own post-processor (``Postprocessor/*``: a TF ``while`` loop around
NMS), so the graph is cut before it: :mod:`export.ov_to_torch` turns the backbone and box predictors into a torch
module whose one output is ``[1, anchors, 4 + 1 + classes]`` (raw box encodings ``ty, tx, th, tw``, then the class
logits with the background first), checked against OpenVINO on real frames, and :mod:`export.formats` writes it as
ONNX and LiteRT at FP32 and INT8. What the post-processor held goes to one JSON file beside them
(:data:`edge.vision.decoders.SSD_HEAD`): the anchors, the box coder's scale factors, the NMS IoU threshold and the
maximum number of detections, all read from the graph. The runtime decodes with them (``architecture: ssd-raw``,
:func:`edge.vision.decoders.decode_ssd_raw`) and runs the project's one NMS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.models import Manifest, sha256_file
from edge.vision.decoders import SSD_HEAD as SSD_HEAD
from export.build import BuildError

log = logging.getLogger(__name__)

# TF OD API tensor names of the pinned graph: the image after the preprocessor's resize loop (a 300->300 identity
# here), the post-processor's two inputs, its anchors and the box decoder's divisions by the scale factors
ENTRY = "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3"
BOX_ENCODINGS_OF = "Postprocessor/Reshape_1"  # reshapes the box encodings
SCORES = "Postprocessor/convert_scores"  # the sigmoid of the class logits
ANCHORS_OF = "Postprocessor/Tile"  # tiles the anchors over the batch
SCALE_DIVISIONS = ("Postprocessor/Decode/truediv", "Postprocessor/Decode/truediv_1", "Postprocessor/Decode/truediv_2",
                   "Postprocessor/Decode/truediv_3")  # ty, tx, th, tw
# What INT8 files keep in float (module-name patterns; chosen by label-free agreement with FP32 on held-out video,
# never on TUD; docs/models.md): LiteRT the box and class predictors; ONNX Runtime, whose recipe has 7-bit weights
# and uint8 activations (export/quantize.py), also the depthwise and linear (projection) convolutions: quantising
# those lost 5-12 % of the FP32 file's detections
KEEP_LITERT = ("predictor",)
#: ONNX Runtime also keeps the output's assembly (Transpose, Reshape, Concat) in float: quantised, the box deltas and
#: the class logits shared one u8 scale, a tenth of a logit per step, which pushed scores across the threshold
KEEP_ONNX = ("predictor", "depthwise", "linear", "Transpose", "Reshape", "Concat")
MAX_ERROR = 1e-3  # torch vs OpenVINO f32, raw outputs on real frames


def _ops(model: Any) -> dict[str, Any]:
    return {op.get_friendly_name(): op for op in model.get_ordered_ops()}


def _input_of(op: Any, index: int = 0) -> Any:
    return op.input(index).get_source_output().get_node()


def _constant(op: Any) -> np.ndarray:
    for source in (i.get_source_output().get_node() for i in op.inputs()):
        if source.get_type_name() == "Constant":
            return np.array(source.get_data(), np.float32)
    raise BuildError(f"{op.get_friendly_name()}: no constant input (has the source graph changed?)")


def outputs(model: Any) -> tuple[str, str]:
    """Friendly names of the raw box encodings and class logits."""
    ops = _ops(model)
    missing = [n for n in (ENTRY, BOX_ENCODINGS_OF, SCORES) if n not in ops]
    if missing:
        raise BuildError(f"the graph has no {', '.join(missing)}: has the source graph changed?")
    return _input_of(ops[BOX_ENCODINGS_OF]).get_friendly_name(), _input_of(ops[SCORES]).get_friendly_name()


def head(model: Any) -> dict[str, Any]:
    """The post-processor's constants: anchors (normalised ymin, xmin, ymax, xmax), scale factors, IoU, max_det."""
    ops = _ops(model)
    anchors = _constant(ops[ANCHORS_OF]).reshape(-1, 4)
    scales = [round(1.0 / float(_constant(ops[name]).reshape(-1)[0]), 4) for name in SCALE_DIVISIONS]
    nms = [op for loop in ops.values() if loop.get_type_name() == "Loop"
           for op in loop.get_function().get_ordered_ops() if op.get_type_name() == "NonMaxSuppression"]
    if len(nms) != 1:
        raise BuildError(f"expected one NonMaxSuppression in the post-processor, found {len(nms)}")
    iou = float(np.array(_input_of(nms[0], 3).get_data()).reshape(-1)[0])
    boxes = next(o for o in model.outputs if o.get_any_name() == "detection_boxes")
    return {"anchors": [[float(v) for v in row] for row in anchors], "scale_factors": scales, "iou": round(iou, 6),
            "max_detections": int(boxes.get_partial_shape()[1].get_length())}


def torch_module(model: Any, predictors: Sequence[str]) -> Any:
    """The backbone and predictors as one torch module: uint8 NHWC image -> ``[1, anchors, 4 + 1 + classes]``."""
    import torch
    from torch import nn

    from export.ov_to_torch import translate

    boxes, logits = outputs(model)
    graph = translate(model, ENTRY, [boxes, logits], {n: f"predictor_{i}" for i, n in enumerate(predictors)})

    class RawSsd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = graph

        def forward(self, image: Any) -> Any:
            box, cls = self.backbone(image)
            return torch.cat([box.reshape(cls.shape[0], cls.shape[1], 4), cls], dim=2)

    return RawSsd().eval()


def check(module: Any, model: Any, frames: Sequence[np.ndarray]) -> float:
    """Largest absolute difference of the raw outputs, torch vs OpenVINO f32, on ``frames``; BuildError above
    :data:`MAX_ERROR`."""
    from export.ov_to_torch import max_abs_error

    worst = max(max_abs_error(module.backbone, model, list(outputs(model)), frames))
    if worst > MAX_ERROR:
        raise BuildError(f"the torch translation differs from OpenVINO by {worst:.2g} (> {MAX_ERROR}) on real frames")
    return worst


def export(folder: Path, model: Any, predictors: Sequence[str], calib: np.ndarray | None, manifest: Manifest,
           check_frames: Sequence[np.ndarray]) -> dict[str, float]:
    """Write ONNX and LiteRT FP32 files (and INT8 ones when ``calib`` is given) and the head file under
    ``folder``; add them to ``manifest``.

    Returns build facts for the log (seconds per file, the translation's error)."""
    import torch

    from export.formats import KeepFloat, export_all

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    module = torch_module(model, predictors)
    error = check(module, model, check_frames)
    log.info("torch translation of the SSD backbone: max abs error %.2g vs OpenVINO on %d frames", error,
             len(check_frames))
    rel = f"build/{SSD_HEAD}"
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(json.dumps(head(model), separators=(",", ":")) + "\n")
    before = len(manifest.files)
    example = torch.from_numpy(np.ascontiguousarray(check_frames[0]))
    with torch.no_grad():
        result = export_all(module, example, folder, manifest, formats=("onnx", "litert"),
                            precisions=("fp32", "int8") if calib is not None else ("fp32",), calib=calib,
                            levels=[KeepFloat("predictors", onnx=KEEP_ONNX, litert=KEEP_LITERT,
                                      onnx_options={"moving_average": True})])
    digest = sha256_file(folder / rel)
    for item in manifest.files[before:]:
        item.architecture = "ssd-raw"
        item.extra_files[rel] = digest
    return {"max_abs_error": error, **result.seconds}
