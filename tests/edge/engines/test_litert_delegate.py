"""LiteRT delegates: XNNPACK is the interpreter's default CPU path; the Edge TPU delegate loads libedgetpu.so.1, or
fails with one line naming the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.engines.base import EngineError, create
from edge.engines.litert import EDGETPU_LIBRARY, load_edgetpu
from tests.edge.models_fixtures import built_manifest

LIBRARY_DIRS = ("/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib")


def test_edgetpu_without_its_library_is_one_clear_error(tmp_path: Path) -> None:
    if any(next(Path(d).glob(f"{EDGETPU_LIBRARY}*"), None) for d in LIBRARY_DIRS):
        pytest.skip(f"{EDGETPU_LIBRARY} is installed here")
    model = tmp_path / "model.tflite"
    model.write_bytes(b"not read: the delegate loads first")
    with pytest.raises(EngineError, match=r"^litert delegate 'edgetpu' cannot load libedgetpu\.so\.1 \(") as err:
        create("litert", model, delegate="EdgeTPU")  # the profiles' spelling
    assert "\n" not in str(err.value)


def test_edgetpu_delegate_is_loaded_by_its_library_name() -> None:
    class Runtime:
        def __init__(self) -> None:
            self.loaded: list[str] = []

        def load_delegate(self, library: str) -> Any:
            self.loaded.append(library)
            return "delegate"

    runtime = Runtime()
    assert load_edgetpu(runtime) == "delegate" and runtime.loaded == ["libedgetpu.so.1"]


def test_xnnpack_is_the_default_and_a_bad_delegate_is_refused(tmp_path: Path) -> None:
    manifest = built_manifest("yolo11n")
    path = manifest.path_of(manifest.select("litert", "fp32"))
    default, xnnpack = create("litert", path), create("litert", path, delegate="XNNPACK")
    assert default.config.delegate == xnnpack.config.delegate == "xnnpack"
    tensor = np.random.default_rng(0).random(default.input_shape, dtype=np.float32)
    np.testing.assert_array_equal(default.infer(tensor)[0], xnnpack.infer(tensor)[0])
    with pytest.raises(EngineError, match=r"engine 'litert': option 'delegate'.*'gpu'"):
        create("litert", path, delegate="gpu")
