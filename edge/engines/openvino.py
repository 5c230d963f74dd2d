"""OpenVINO engine: IR (``.xml`` + ``.bin``) or ONNX on CPU, GPU, NPU or AUTO, with LATENCY/THROUGHPUT hints.

Synchronous requests use one ``InferRequest``; :meth:`infer_stream` keeps ``requests`` asynchronous requests in
flight (by default the compiled model's optimal number). :meth:`fuse_preprocess` folds uint8 NHWC
BGR -> model input conversion (type, channel order, mean/std, layout) into the compiled graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from edge.engines.base import Engine, EngineConfig, EngineError, T, Tensor, check_input, native_stderr_silenced

DEVICES = ("CPU", "GPU", "NPU", "AUTO")


class OpenVINOConfig(EngineConfig):
    device: str = "CPU"  # CPU | GPU | NPU | AUTO (also GPU.1, AUTO:GPU,CPU)
    hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    streams: int | None = Field(default=None, ge=1)  # CPU streams (None: from the hint)
    requests: int | None = Field(default=None, ge=1)  # async requests in flight (None: the device's optimum + 1)
    cache_dir: str | None = None  # compiled-blob cache (speeds up GPU/NPU start)
    # execution precision of float layers. None: f32 on the CPU (OpenVINO's own CPU default is bf16 where the CPU has
    # AVX512_BF16 or AMX, which moves scores and boxes: the same file would count other people on such a box), the
    # device's default elsewhere (GPU/NPU: f16); "bf16" opts in to the faster path on AMX boxes
    inference_precision: Literal["f32", "bf16", "f16"] | None = None

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value.split(":")[0].split(".")[0] not in DEVICES:
            raise ValueError(f"unknown device, choose from {', '.join(DEVICES)}")
        return value


class OpenVINOEngine(Engine):
    name = "openvino"
    Config = OpenVINOConfig
    config: OpenVINOConfig

    def __init__(self, path: Path, config: EngineConfig) -> None:
        super().__init__(path, config)
        import openvino as ov

        self._ov = ov
        self._core = ov.Core()
        self._check_device(self.config.device)
        try:
            with native_stderr_silenced():  # other frontends log their own parse failures of a bad file
                self._model = self._core.read_model(str(path))
        except RuntimeError as exc:
            raise EngineError(f"openvino cannot read {path}: {_first_line(exc)}") from None
        if self._model.inputs[0].get_partial_shape().is_dynamic:
            raise EngineError(f"{path}: input shape {self._model.inputs[0].get_partial_shape()} is dynamic; "
                              "export it with a static shape")
        self._names = [_output_name(o) for o in self._model.outputs]
        self._compiled: Any = None
        self._request: Any = None

    def _check_device(self, device: str) -> None:
        base = device.split(":")[0].split(".")[0]
        if base == "AUTO":
            return
        available = self._core.available_devices
        if not any(d.split(".")[0] == base for d in available):
            raise EngineError(f"openvino device {device!r} is not available here (available: "
                              f"{', '.join(available)}, AUTO)")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self._model.inputs[0].get_shape())

    @property
    def output_names(self) -> list[str]:
        return self._names

    def fuse_preprocess(self, width: int, height: int, bgr_to_rgb: bool, mean: list[float], std: list[float],
                        layout: str) -> bool:
        if self._compiled is not None:
            raise EngineError("fuse_preprocess must be called before the first inference")
        from openvino.preprocess import PrePostProcessor

        ov = self._ov
        ppp = PrePostProcessor(self._model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_shape(
            [1, height, width, 3])
        ppp.input().model().set_layout(ov.Layout(layout))
        steps = ppp.input().preprocess()
        if self._model.inputs[0].get_element_type() != ov.Type.u8:
            steps.convert_element_type(ov.Type.f32)
        if bgr_to_rgb:
            steps.reverse_channels()
        if any(mean):
            steps.mean([float(m) for m in mean])
        if any(s != 1 for s in std):
            steps.scale([float(s) for s in std])
        self._model = ppp.build()
        return True

    def _compile(self) -> Any:
        if self._compiled is None:
            props: dict[str, Any] = {"PERFORMANCE_HINT": self.config.hint}
            on_cpu = self.config.device == "CPU"
            if self.config.threads and on_cpu:
                props["INFERENCE_NUM_THREADS"] = self.config.threads
            if self.config.streams and on_cpu:
                props["NUM_STREAMS"] = self.config.streams
            precision = self.config.inference_precision or ("f32" if on_cpu else None)
            if precision:
                props["INFERENCE_PRECISION_HINT"] = precision
            if self.config.cache_dir:
                props["CACHE_DIR"] = self.config.cache_dir
            try:
                self._compiled = self._core.compile_model(self._model, self.config.device, props)
            except RuntimeError as exc:
                raise EngineError(f"openvino cannot compile {self.path} for {self.config.device}: "
                                  f"{_first_line(exc)}") from None
            self._request = self._compiled.create_infer_request()
        return self._compiled

    @property
    def parallelism(self) -> int:
        if self.config.requests:
            return self.config.requests
        # one more than the device runs at once: a queued request keeps it busy while the caller prepares the next
        return int(self._compile().get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) + 1

    def infer(self, tensor: Tensor) -> list[Tensor]:
        self._compile()
        check_input(tensor, tuple(self._model.inputs[0].get_shape()))
        self._request.infer({0: tensor})
        return [self._request.get_output_tensor(i).data.copy() for i in range(len(self._names))]

    def infer_stream(self, items: Iterable[tuple[T, Tensor]]) -> Iterator[tuple[T, list[Tensor]]]:
        """A ring of ``parallelism`` asynchronous requests, collected first-in first-out (so in input order).

        Not ``AsyncInferQueue``: with OpenVINO 2026.4 a queue freed before the process exits makes the exit abort
        ("terminate called without an active exception") now and then; plain requests do not.
        """
        compiled = self._compile()
        ring = [compiled.create_infer_request() for _ in range(self.parallelism)]
        in_flight: deque[tuple[Any, T, Tensor]] = deque()  # (request, tag, input kept alive while it runs)
        shape = tuple(self._model.inputs[0].get_shape())
        n_out = len(self._names)
        for seq, (tag, tensor) in enumerate(items):
            check_input(tensor, shape)
            if len(in_flight) == len(ring):
                yield self._collect(in_flight.popleft(), n_out)
            request = ring[seq % len(ring)]
            request.start_async({0: tensor}, share_inputs=True)
            in_flight.append((request, tag, tensor))
        while in_flight:
            yield self._collect(in_flight.popleft(), n_out)

    @staticmethod
    def _collect(entry: tuple[Any, T, Tensor], n_out: int) -> tuple[T, list[Tensor]]:
        request, tag, _ = entry
        request.wait()
        return tag, [request.get_output_tensor(i).data.copy() for i in range(n_out)]

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if self._compiled is not None:
            info["execution_devices"] = list(self._compiled.get_property("EXECUTION_DEVICES"))
            info["requests"] = self.parallelism
        return info


def _output_name(output: Any) -> str:
    names = sorted(output.get_names(), key=len)
    return names[0] if names else f"output{output.get_index()}"


def _first_line(exc: BaseException) -> str:
    """The informative line of an OpenVINO exception (not its ``Exception from src/...`` location lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("Exception from ")]
    return (useful or lines or [type(exc).__name__])[0]

