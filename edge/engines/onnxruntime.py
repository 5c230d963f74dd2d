"""ONNX Runtime engine: the CPU execution provider, or the OpenVINO execution provider where it is installed.

:meth:`infer_stream` runs ``streams`` sessions' worth of requests concurrently from a thread pool (ONNX Runtime
releases the GIL while it runs), each with ``threads`` intra-op threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from edge.engines.base import Engine, EngineConfig, EngineError, T, Tensor, check_input

OPENVINO_EP = "OpenVINOExecutionProvider"


class OnnxRuntimeConfig(EngineConfig):
    provider: Literal["cpu", "openvino"] = "cpu"  # execution provider
    device: str = "CPU"  # CPU, or with the OpenVINO EP: GPU | NPU | AUTO
    streams: int = Field(default=1, ge=1)  # concurrent requests in infer_stream


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"
    Config = OnnxRuntimeConfig
    config: OnnxRuntimeConfig

    def __init__(self, path: Path, config: EngineConfig) -> None:
        super().__init__(path, config)
        import onnxruntime as ort

        cfg = self.config
        available = ort.get_available_providers()
        if cfg.device != "CPU" and cfg.provider != "openvino":
            raise EngineError(f"onnxruntime device {cfg.device!r} needs provider 'openvino' (this build has: "
                              f"{', '.join(available)})")
        if cfg.provider == "openvino" and OPENVINO_EP not in available:
            raise EngineError(f"onnxruntime has no OpenVINO execution provider here (available: "
                              f"{', '.join(available)}; pip install onnxruntime-openvino)")
        providers: list[Any] = (
            [(OPENVINO_EP, {"device_type": cfg.device}), "CPUExecutionProvider"]
            if cfg.provider == "openvino" else ["CPUExecutionProvider"]
        )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if cfg.threads:
            options.intra_op_num_threads = cfg.threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise EngineError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from None
        self._input = self._session.get_inputs()[0]
        if not all(isinstance(d, int) for d in self._input.shape):
            raise EngineError(f"{path}: input shape {self._input.shape} is dynamic; export it with a static shape")
        self._names = [o.name for o in self._session.get_outputs()]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self._input.shape)

    @property
    def output_names(self) -> list[str]:
        return self._names

    @property
    def parallelism(self) -> int:
        return self.config.streams

    def infer(self, tensor: Tensor) -> list[Tensor]:
        check_input(tensor, self.input_shape)
        outputs: list[Tensor] = self._session.run(None, {self._input.name: tensor})
        return outputs

    def infer_stream(self, items: Iterable[tuple[T, Tensor]]) -> Iterator[tuple[T, list[Tensor]]]:
        if self.config.streams == 1:
            yield from super().infer_stream(items)
            return
        in_flight: deque[tuple[T, Future[list[Tensor]]]] = deque()
        with ThreadPoolExecutor(self.config.streams, thread_name_prefix="ort") as pool:
            for tag, tensor in items:
                if len(in_flight) >= self.config.streams:
                    done_tag, future = in_flight.popleft()
                    yield done_tag, future.result()
                in_flight.append((tag, pool.submit(self.infer, tensor)))
            while in_flight:
                done_tag, future = in_flight.popleft()
                yield done_tag, future.result()
