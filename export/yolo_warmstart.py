"""A trainable ultralytics YOLO checkpoint from a shipped YOLO ONNX file (its weights dequantised), to warm-start
training when only the exported model survives (e.g. ``models/shelf-products/onnx-int8/model.onnx``: its ``.pt``
takes 72 CPU minutes to rebuild).

An exported file holds each convolution with its BatchNorm folded in (``W``, ``b``). Each ``Conv`` gets back a
BatchNorm set from the statistics ``mean``, ``var`` of ``W x`` on real images: scale ``sqrt(var + eps)``, shift
``mean + b``, running statistics ``mean``, ``var``. In eval mode that is exactly the exported function; in training
mode (batch statistics) it is close to it on images like those.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export.common import ExportError


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Float tensors of an ONNX file by initializer name (QDQ-quantised ones dequantised, named as in torch)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    weights = {name: value for name, value in inits.items() if value.dtype == np.float32}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q, scale = inits[node.input[0]].astype(np.float64), inits[node.input[1]].astype(np.float64)
        zero = inits[node.input[2]].astype(np.float64) if len(node.input) > 2 and node.input[2] else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if np.ndim(scale):
            shape[axis] = -1
        value = (q - np.reshape(zero, shape if np.ndim(zero) else ())) * np.reshape(scale, shape if np.ndim(scale)
                                                                                   else ())
        name = node.output[0].removesuffix("_DequantizeLinear_Output")
        weights[name] = value.astype(np.float32)
    return weights


def warm_start(onnx_path: Path, labels: Sequence[str], keep: Sequence[str], images: np.ndarray, dst: Path,
               arch: str = "yolo11n.yaml") -> Path:
    """Write ``dst`` (an ultralytics checkpoint of ``arch``) with the weights of ``onnx_path``, whose classes are
    ``labels``, keeping the classes ``keep``; BatchNorm statistics from ``images`` (N x 3 x S x S in [0, 1])."""
    import torch
    from ultralytics.nn.modules import Conv, Detect
    from ultralytics.nn.tasks import DetectionModel

    missing = [k for k in keep if k not in labels]
    if missing:
        raise ExportError(f"{onnx_path}: no class {missing[0]!r} among {list(labels)}")
    weights = onnx_weights(onnx_path)
    model: Any = DetectionModel(arch, nc=len(labels), verbose=False).float()
    convs: dict[str, Any] = {name: m for name, m in model.named_modules() if isinstance(m, Conv)}
    plain: dict[str, Any] = {name: m for name, m in model.named_modules()
             if isinstance(m, torch.nn.Conv2d) and not name.endswith(".conv") and ".dfl." not in name}
    with torch.no_grad():
        for name, module in convs.items():
            module.conv.weight.copy_(_tensor(weights, f"{name}.conv.weight", module.conv.weight.shape))
            bn = module.bn
            bn.weight.fill_(1.0), bn.running_mean.zero_(), bn.running_var.fill_(1.0 - bn.eps)
            bn.bias.copy_(_tensor(weights, f"{name}.conv.bias", bn.bias.shape))
        for name, conv in plain.items():
            conv.weight.copy_(_tensor(weights, f"{name}.weight", conv.weight.shape))
            conv.bias.copy_(_tensor(weights, f"{name}.bias", conv.bias.shape))
    _set_batchnorm(model, list(convs.values()), torch.from_numpy(images))
    head: Any = next(m for m in model.modules() if isinstance(m, Detect))
    index = [list(labels).index(k) for k in keep]
    with torch.no_grad():
        for branch in head.cv3:
            last = branch[-1]
            sliced: Any = torch.nn.Conv2d(last.in_channels, len(index), 1)
            sliced.weight.copy_(last.weight[index]), sliced.bias.copy_(last.bias[index])
            branch[-1] = sliced
    head.nc, head.no = len(index), len(index) + head.reg_max * 4
    model.nc, model.yaml["nc"], model.names = len(index), len(index), dict(enumerate(keep))
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {}, "warm_start": str(onnx_path)}, dst)
    return dst


def _tensor(weights: dict[str, np.ndarray], name: str, shape: Any) -> Any:
    import torch

    if name not in weights:
        raise ExportError(f"the ONNX file has no weight {name!r}: not a model of this architecture")
    value = torch.from_numpy(weights[name])
    if tuple(value.shape) != tuple(shape):
        raise ExportError(f"{name}: shape {tuple(value.shape)} in the ONNX file, {tuple(shape)} in the architecture")
    return value


def _set_batchnorm(model: Any, convs: list[Any], images: Any) -> None:
    """Scale and shift every ``Conv``'s BatchNorm by the statistics of its input on ``images`` (eval mode: the
    function does not change, so one pass measures every layer)."""
    import torch

    sums: dict[int, list[Any]] = {}

    def record(index: int) -> Any:
        def hook(_: Any, inputs: tuple[Any, ...]) -> None:
            x = inputs[0].double()
            part = [x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), x.numel() / x.shape[1]]
            sums[index] = part if index not in sums else [a + b for a, b in zip(sums[index], part, strict=True)]
        return hook

    handles = [conv.bn.register_forward_pre_hook(record(i)) for i, conv in enumerate(convs)]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(images), 8):
            model(images[start:start + 8])
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        for i, conv in enumerate(convs):
            total, squares, count = sums[i]
            mean = total / count
            var = (squares / count - mean * mean).clamp(min=1e-6)
            bn = conv.bn
            bn.bias.add_(mean.float())
            bn.weight.copy_((var + bn.eps).sqrt().float())
            bn.running_mean.copy_(mean.float()), bn.running_var.copy_(var.float())
