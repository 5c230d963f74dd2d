"""An OpenVINO ``ov.Model`` sub-graph as a torch module (build time only), so that :mod:`export.formats` can write it
as ONNX and LiteRT files.

:func:`translate` walks the model's ordered operations from one *entry* tensor (the module's input, e.g. the float
image after a graph's own preprocessing loop) to the named *outputs*, and turns each operation into a torch step.
Weights are the model's ``Constant`` nodes. Supported: ``Convolution``, ``GroupConvolution`` (a bias ``Add`` that
follows becomes the convolution's bias, asymmetric pads an explicit ``F.pad``), ``Add``, ``Subtract``,
``Multiply``, ``Clamp`` (``relu6`` for [0, 6]), ``Relu``, ``Sigmoid``, ``Transpose``, ``Reshape``/``Squeeze``/
``Unsqueeze`` (to the model's static output shape) and ``Concat``. Anything else on the path is a
:class:`TranslateError` naming the operation. :func:`max_abs_error` checks the result against OpenVINO on real
inputs; a builder must call it before exporting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Port = tuple[str, int]  # (friendly name of an operation, output index)


class TranslateError(Exception):
    """The OpenVINO graph holds an operation (or a form of one) this translator does not know."""


def _consumers(output: Any) -> list[Any]:
    return [t.get_node() for t in output.get_target_inputs()]


def _port(output: Any) -> Port:
    return output.get_node().get_friendly_name(), output.get_index()


def translate(model: Any, entry: str, outputs: Sequence[str], names: Mapping[str, str] | None = None) -> Any:
    """``torch.nn.Module`` computing ``outputs`` (friendly names, output 0) from ``entry``'s output 0.

    ``names`` renames convolution modules (OpenVINO friendly name -> module name, e.g. ``predictor_3`` so that a
    quantiser's name patterns can keep them in float); others are ``depthwise_<i>`` (grouped), ``conv_<i>`` (followed
    by an activation) or ``linear_<i>`` (not: e.g. MobileNetV2's projections). The module casts its input (e.g. a
    uint8 image) to float32, as the entry tensor is.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    names = dict(names or {})
    ops = model.get_ordered_ops()
    by_name = {op.get_friendly_name(): op for op in ops}
    missing = [n for n in (entry, *outputs) if n not in by_name]
    if missing:
        raise TranslateError(f"no operation named {', '.join(missing)} in the model")

    ancestors: set[str] = set()
    stack = [by_name[n] for n in outputs]
    while stack:  # every operation the outputs depend on, back to the entry
        op = stack.pop()
        if op.get_friendly_name() in ancestors:
            continue
        ancestors.add(op.get_friendly_name())
        if op.get_friendly_name() != entry:
            stack.extend(i.get_source_output().get_node() for i in op.inputs())

    steps: list[tuple[Port, Callable[..., Any], list[Port]]] = []
    known: set[Port] = {(entry, 0)}
    fused_bias: dict[str, Port] = {}  # Add friendly name -> the convolution port it was folded into
    convs = nn.ModuleDict()
    consts: dict[str, Any] = {}

    def constant(source: Any) -> np.ndarray | None:
        node = source.get_node()
        return np.array(node.get_data(), np.float32) if node.get_type_name() == "Constant" else None

    def buffer(data: np.ndarray) -> str:
        key = f"c{len(consts)}"
        consts[key] = torch.from_numpy(data)
        return key

    for op in ops:
        kind, name = op.get_type_name(), op.get_friendly_name()
        if name not in ancestors or name == entry or kind == "Constant":
            continue
        sources = [i.get_source_output() for i in op.inputs()]
        live = [s for s in sources if _port(s) in known]
        if not live:
            raise TranslateError(f"operation {kind} {name} does not depend on {entry}")
        port = (name, 0)
        if name in fused_bias:
            steps.append((port, _identity, [fused_bias[name]]))
            known.add(port)
            continue
        if kind in ("Convolution", "GroupConvolution"):
            attrs = op.get_attributes()
            weight = constant(sources[1])
            if weight is None:
                raise TranslateError(f"{kind} {name}: weights are not a Constant")
            groups = 1
            if kind == "GroupConvolution":
                groups = weight.shape[0]
                weight = weight.reshape(weight.shape[0] * weight.shape[1], *weight.shape[2:])
            bias = None
            after = _consumers(op.output(0))
            if len(after) == 1 and after[0].get_type_name() == "Add":
                other = [i.get_source_output() for i in after[0].inputs() if _port(i.get_source_output()) != port]
                data = constant(other[0]) if len(other) == 1 else None
                if data is not None and data.size == weight.shape[0]:
                    bias = data.reshape(-1)
                    fused_bias[after[0].get_friendly_name()] = port
            begin, end = list(attrs["pads_begin"]), list(attrs["pads_end"])
            module = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                               stride=tuple(attrs["strides"]), dilation=tuple(attrs["dilations"]), groups=groups,
                               bias=bias is not None, padding=tuple(begin) if begin == end else 0)
            with torch.no_grad():
                module.weight.copy_(torch.from_numpy(weight))
                if bias is not None:
                    module.bias.copy_(torch.from_numpy(bias))
            result = after[0].output(0) if bias is not None else op.output(0)
            activated = [c.get_type_name() for c in _consumers(result)] in (["Clamp"], ["Relu"])
            role = "depthwise" if groups > 1 else "conv" if activated else "linear"
            key = names.get(name, f"{role}_{len(convs)}")
            convs[key] = module
            pad = None if begin == end else (begin[1], end[1], begin[0], end[0])
            steps.append((port, _conv(convs, key, pad, F), [_port(sources[0])]))
        elif kind in ("Add", "Subtract", "Multiply"):
            fn = {"Add": torch.add, "Subtract": torch.sub, "Multiply": torch.mul}[kind]
            if len(live) == 2:
                steps.append((port, fn, [_port(s) for s in sources]))
            else:
                first = _port(sources[0]) in known
                data = constant(sources[1] if first else sources[0])
                if data is None:
                    raise TranslateError(f"{kind} {name}: an input is neither computed nor a Constant")
                steps.append((port, _with_const(fn, buffer(data), first), [_port(live[0])]))
        elif kind == "Clamp":
            lo, hi = float(op.get_attributes()["min"]), float(op.get_attributes()["max"])
            steps.append((port, F.relu6 if (lo, hi) == (0.0, 6.0) else _clamp(lo, hi), [_port(sources[0])]))
        elif kind == "Relu":
            steps.append((port, torch.relu, [_port(sources[0])]))
        elif kind == "Sigmoid":
            steps.append((port, torch.sigmoid, [_port(sources[0])]))
        elif kind == "Transpose":
            perm = [int(v) for v in sources[1].get_node().get_data()]
            steps.append((port, _permute(perm), [_port(sources[0])]))
        elif kind in ("Reshape", "Squeeze", "Unsqueeze"):
            steps.append((port, _reshape([int(d) for d in op.get_output_shape(0)]), [_port(sources[0])]))
        elif kind == "Concat":
            if len(live) != len(sources):
                raise TranslateError(f"Concat {name}: mixes computed and constant inputs")
            steps.append((port, _concat(int(op.get_attributes()["axis"])), [_port(s) for s in sources]))
        else:
            raise TranslateError(f"operation {kind} {name} on the path from {entry} is not supported")
        known.add(port)

    wanted = [(n, 0) for n in outputs]
    absent = [n for n, _ in wanted if (n, 0) not in known]
    if absent:
        raise TranslateError(f"outputs {', '.join(absent)} are not computed from {entry}")
    return _Graph(steps, (entry, 0), wanted, convs, consts)


def _conv(convs: Any, key: str, pad: tuple[int, int, int, int] | None, F: Any) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        return convs[key](x if pad is None else F.pad(x, pad))

    run.conv_key = key  # type: ignore[attr-defined]
    return run


def _identity(x: Any) -> Any:
    return x


def _with_const(fn: Callable[[Any, Any], Any], key: str, first: bool) -> Callable[[Any], Any]:
    holder: dict[str, Any] = {}

    def run(x: Any) -> Any:
        c = holder["module"].get_buffer(key)
        return fn(x, c) if first else fn(c, x)

    run.const_key = key  # type: ignore[attr-defined]
    run.holder = holder  # type: ignore[attr-defined]
    return run


def _clamp(lo: float, hi: float) -> Callable[[Any], Any]:
    import torch

    return lambda x: torch.clamp(x, lo, hi)


def _permute(perm: list[int]) -> Callable[[Any], Any]:
    return lambda x: x.permute(*perm)


def _reshape(shape: list[int]) -> Callable[[Any], Any]:
    return lambda x: x.reshape(*shape)


def _concat(axis: int) -> Callable[..., Any]:
    import torch

    return lambda *xs: torch.cat(xs, dim=axis)


def _Graph(plan: list[tuple[Port, Callable[..., Any], list[Port]]], entry: Port, outputs: list[Port], convs: Any,
           consts: dict[str, Any]) -> Any:
    import torch
    from torch import nn

    class OvGraph(nn.Module):
        """The translated sub-graph: ``forward(image) -> tuple of outputs`` (or one tensor for one output)."""

        def __init__(self) -> None:
            super().__init__()
            self.convs = convs
            for key, value in consts.items():
                self.register_buffer(key, value)
            for _, fn, _ in plan:
                if hasattr(fn, "holder"):
                    fn.holder["module"] = self
            self.plan, self.entry, self.outputs = plan, entry, outputs

        def forward(self, image: Any) -> Any:
            values = {self.entry: image.to(torch.float32)}
            for port, fn, args in self.plan:
                values[port] = fn(*(values[a] for a in args))
            result = tuple(values[o] for o in self.outputs)
            return result[0] if len(result) == 1 else result

    return OvGraph().eval()


def reference(model: Any, outputs: Sequence[str]) -> Any:
    """A compiled OpenVINO model of the original graph returning ``outputs`` (friendly names), in f32 on the CPU."""
    import openvino as ov

    by_name = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
    sub = ov.Model([by_name[n].output(0) for n in outputs], list(model.get_parameters()), "reference")
    return ov.Core().compile_model(sub, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def max_abs_error(module: Any, model: Any, outputs: Sequence[str], inputs: Sequence[np.ndarray]) -> list[float]:
    """Largest absolute difference per output between ``module`` and OpenVINO (f32) over ``inputs``."""
    import torch

    compiled = reference(model, outputs)
    worst = [0.0] * len(outputs)
    with torch.no_grad():
        for sample in inputs:
            ours = module(torch.from_numpy(np.ascontiguousarray(sample)))
            ours = ours if isinstance(ours, tuple) else (ours,)
            theirs = compiled(sample)
            for k, (a, b) in enumerate(zip(ours, theirs.values(), strict=True)):
                worst[k] = max(worst[k], float(np.abs(a.numpy().reshape(b.shape) - b).max()))
    return worst


def module_name(text: str) -> str:
    """A torch module name from any text (letters, digits and underscores)."""
    return re.sub(r"\W+", "_", text).strip("_")
