"""LiteRT (TensorFlow Lite) engine: ``ai_edge_litert``, falling back to ``tflite_runtime``; thread count configurable.

Quantised inputs/outputs (int8/uint8 with scale and zero point) are converted from/to float32, so callers see the
same tensors as with a float model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.engines.base import Engine, EngineConfig, EngineError, Tensor, check_input, native_stderr_silenced


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise EngineError("LiteRT is not installed: pip install ai-edge-litert (or tflite-runtime)") from None
    return Interpreter


class LiteRTEngine(Engine):
    name = "litert"
    Config = EngineConfig
    config: EngineConfig

    def __init__(self, path: Path, config: EngineConfig) -> None:
        super().__init__(path, config)
        interpreter = _interpreter_class()
        try:
            with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate" on every load
                self._interp = interpreter(model_path=str(path), num_threads=self.config.threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"litert cannot load {path}: {str(exc).splitlines()[0]}") from None
        self._input = self._interp.get_input_details()[0]
        self._outputs = self._interp.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._input["shape"])

    @property
    def output_names(self) -> list[str]:
        return [str(o["name"]) for o in self._outputs]

    def infer(self, tensor: Tensor) -> list[Tensor]:
        check_input(tensor, self.input_shape)
        self._interp.set_tensor(self._input["index"], _quantize(tensor, self._input))
        self._interp.invoke()
        return [_dequantize(self._interp.get_tensor(o["index"]), o) for o in self._outputs]


def _quantize(tensor: Tensor, detail: dict[str, Any]) -> Tensor:
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if dtype in (np.int8, np.uint8) and scale and tensor.dtype != dtype:
        info = np.iinfo(dtype)
        return np.clip(np.round(tensor / scale + zero), info.min, info.max).astype(dtype)
    return tensor.astype(dtype, copy=False)


def _dequantize(tensor: Tensor, detail: dict[str, Any]) -> Tensor:
    scale, zero = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8) and scale:
        return ((tensor.astype(np.float32) - zero) * scale).astype(np.float32)
    return np.array(tensor)
