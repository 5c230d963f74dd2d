"""The person graph cut before its post-processor: the torch translation computes OpenVINO's raw outputs on real
frames, and the head file holds the graph's own anchors and post-processing settings."""

from __future__ import annotations

import json

import numpy as np

from export import person_ssdlite, ssd_raw
from tests.edge.models_fixtures import built_manifest


def test_translation_matches_openvino_and_head_comes_from_the_graph() -> None:
    model = person_ssdlite.convert(person_ssdlite.source_graph())
    module = ssd_raw.torch_module(model, person_ssdlite.predictor_convs(model))
    frames = list(person_ssdlite.calibration_frames(count=3))
    assert ssd_raw.check(module, model, frames) < 1e-4
    names = list(module.backbone.convs)
    assert sum(n.startswith("predictor_") for n in names) == 12  # box and class predictors of 6 feature maps
    assert any(n.startswith("depthwise_") for n in names) and any(n.startswith("linear_") for n in names)
    head = ssd_raw.head(model)
    assert np.asarray(head["anchors"]).shape == (1917, 4)
    assert (head["scale_factors"], head["iou"], head["max_detections"]) == ([10.0, 10.0, 5.0, 5.0], 0.6, 100)
    manifest = built_manifest("person-ssdlite")
    item = manifest.select("onnxruntime", "fp32")
    shipped = manifest.path_of(next(rel for rel in item.extra_files if rel.endswith(ssd_raw.SSD_HEAD)))
    assert json.loads(shipped.read_text()) == head
