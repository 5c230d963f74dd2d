"""The ``Engine`` interface and the registry of engines by type name (the Frigate detector-plugin pattern).

An engine runs one model file: ``infer(tensor) -> outputs`` (synchronous, one request) and
``infer_stream(items) -> iterator`` (pipelined: several requests in flight, results in input order). Each engine
has its own small pydantic config; :func:`create` validates keyword options against it, so a wrong option or
value is reported with the engine's name. Engines import their runtime library lazily.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import numpy.typing as npt
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from common.plugins import Plugins
from errors import SmartstoreError

T = TypeVar("T")
Tensor = npt.NDArray[Any]


class EngineError(SmartstoreError):
    """An engine cannot load or run a model (unknown engine/device, corrupt file, runtime missing)."""


class EngineConfig(BaseModel):
    """Options shared by every engine; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = None  # CPU threads for inference (None: the runtime's default, all cores)


class Engine(ABC):
    """Runs one model file. Input: one tensor in the model's layout/dtype. Output: the model's outputs, in order."""

    name: ClassVar[str]
    Config: ClassVar[type[EngineConfig]] = EngineConfig

    def __init__(self, path: Path, config: EngineConfig) -> None:
        self.path = path
        self.config = config

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Static input shape (batch first)."""

    @property
    @abstractmethod
    def output_names(self) -> list[str]:
        """Output names in the order :meth:`infer` returns them."""

    @abstractmethod
    def infer(self, tensor: Tensor) -> list[Tensor]:
        """Run one request synchronously; outputs are fresh arrays the caller may keep."""

    def infer_stream(self, items: Iterable[tuple[T, Tensor]]) -> Iterator[tuple[T, list[Tensor]]]:
        """Pipelined inference of ``(tag, tensor)`` pairs, yielding ``(tag, outputs)`` in input order.

        The default runs them one by one; engines with asynchronous requests keep several in flight.
        """
        for tag, tensor in items:
            yield tag, self.infer(tensor)

    @property
    def parallelism(self) -> int:
        """How many requests :meth:`infer_stream` keeps in flight."""
        return 1

    def fuse_preprocess(self, width: int, height: int, bgr_to_rgb: bool, mean: list[float], std: list[float],
                        layout: str) -> bool:
        """Move conversion of a uint8 NHWC BGR/RGB image to the model input into the engine, if it can.

        Returns True when it did: :meth:`infer` then takes ``uint8 [1, height, width, 3]`` images.
        """
        return False

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "path": str(self.path), **self.config.model_dump(exclude_none=True)}


#: engine type name -> "module:Class", imported on first use
ENGINES: Plugins[Engine] = Plugins("engine", EngineError, {
    "openvino": "edge.engines.openvino:OpenVINOEngine",
    "onnxruntime": "edge.engines.onnxruntime:OnnxRuntimeEngine",
    "litert": "edge.engines.litert:LiteRTEngine",
})


def engine_names() -> list[str]:
    return ENGINES.names()


def known_engine(name: str) -> str:
    """``name`` when it is a registered engine; ValueError naming the choices otherwise (a pydantic validator)."""
    if name not in ENGINES.names():
        raise ValueError(ENGINES.unknown(name))
    return name


#: an engine name in a manifest, a hardware profile or a config: checked against the registry, the one list
EngineName = Annotated[str, AfterValidator(known_engine)]


def register(name: str, target: str) -> None:
    """Add an engine type (``"module:Class"``), e.g. a vendor NPU plugin."""
    ENGINES.register(name, target)


def engine_class(name: str) -> type[Engine]:
    return ENGINES.load(name)


def create(name: str, path: str | Path, **options: Any) -> Engine:
    """Load ``path`` on engine ``name`` with ``options`` validated by that engine's config."""
    cls = engine_class(name)
    try:
        config = cls.Config(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        extra = err["type"] == "extra_forbidden"
        known = f"; {name} options: {', '.join(sorted(cls.Config.model_fields))}" if extra else ""
        raise EngineError(f"engine {name!r}: option {field!r}: {err['msg']} "
                          f"(value {err.get('input')!r}{known})") from None
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"engine {name!r}: model file {path} does not exist")
    return cls(path, config)


def check_input(tensor: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(tensor.shape) != shape:
        raise EngineError(f"input has shape {tuple(tensor.shape)}, model expects {shape}")


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (silences C++ logging, not Python exceptions)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

