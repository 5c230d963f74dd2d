"""LiteRT (TensorFlow Lite) engine: ``ai_edge_litert``, falling back to ``tflite_runtime``; thread count configurable.

Quantised inputs/outputs (int8/uint8 with scale and zero point) are converted from/to float32, so callers see the
same tensors as with a float model.

``delegate``: ``xnnpack`` (default) is the CPU interpreter's own XNNPACK path, nothing to load; ``edgetpu`` loads
the Coral Edge TPU delegate (:data:`EDGETPU_LIBRARY`) with ``load_delegate`` and is one clear error when the
library or the device is missing. The Edge TPU runs only models compiled by ``edgetpu_compiler``; other ops stay
on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import field_validator

from edge.engines.base import Engine, EngineConfig, EngineError, Tensor, check_input, native_stderr_silenced

EDGETPU_LIBRARY = "libedgetpu.so.1"


class LiteRTConfig(EngineConfig):
    delegate: Literal["xnnpack", "edgetpu"] = "xnnpack"  # as hardware profiles spell it too: XNNPACK, EdgeTPU

    @field_validator("delegate", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def _runtime() -> Any:
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            raise EngineError("LiteRT is not installed: pip install ai-edge-litert (or tflite-runtime)") from None
    return interpreter


def load_edgetpu(runtime: Any) -> Any:
    """The Edge TPU delegate; :class:`EngineError` naming the library when it cannot be loaded."""
    try:
        return runtime.load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EngineError(f"litert delegate 'edgetpu' cannot load {EDGETPU_LIBRARY} (install the Coral Edge TPU "
                          f"runtime, libedgetpu1-std, and attach the device): {reason}") from None


class LiteRTEngine(Engine):
    name = "litert"
    Config = LiteRTConfig
    config: LiteRTConfig

    def __init__(self, path: Path, config: EngineConfig) -> None:
        super().__init__(path, config)
        runtime = _runtime()
        delegates = [load_edgetpu(runtime)] if self.config.delegate == "edgetpu" else []
        try:
            with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate" on every load
                self._interp = runtime.Interpreter(model_path=str(path), num_threads=self.config.threads,
                                                   experimental_delegates=delegates or None)
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
