"""Raw model outputs -> :class:`Detections` in model-input pixels. Vectorised numpy, no per-box Python loops.

- ``yolo``: ultralytics v8/11 detect head, one output ``[1, 4 + nc, N]`` (cx, cy, w, h, class scores), then
  class-aware NMS.
- ``ssd``: TF Object Detection API post-processed outputs ``detection_boxes [1, M, 4]`` (normalised ymin, xmin,
  ymax, xmax), ``detection_scores``, ``detection_classes`` (1-based, 0 = background) and ``num_detections``;
  NMS already ran inside the graph. Class ids are returned 0-based (``class - 1``) to index the manifest's labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.vision.detections import Detections
from edge.vision.nms import nms

Array = npt.NDArray[np.float32]
SSD_OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")


@dataclass(frozen=True, slots=True)
class DecodeParams:
    conf: float = 0.25  # minimum score
    iou: float = 0.45  # NMS IoU threshold (yolo)
    max_det: int = 300
    classes: tuple[int, ...] | None = None  # keep only these class ids (None: all)


def decode_yolo(output: Array, width: int, height: int, params: DecodeParams, normalized: bool = False) -> Detections:
    """ultralytics ``[1, 4 + nc, N]`` -> Detections (xyxy in model-input pixels)."""
    pred = output[0]
    scores_all = pred[4:]
    if params.classes is not None:
        keep_cls = np.asarray(params.classes, np.int64)
        scores_all = scores_all[keep_cls]
    best = scores_all.max(axis=0)
    cand = np.flatnonzero(best >= params.conf)
    if len(cand) == 0:
        return Detections.empty()
    class_idx = scores_all[:, cand].argmax(axis=0)
    class_id = keep_cls[class_idx] if params.classes is not None else class_idx
    cx, cy, w, h = pred[:4, cand]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    if normalized:
        xyxy *= np.array([width, height, width, height], np.float32)
    dets = Detections(xyxy.astype(np.float32), best[cand].astype(np.float32), class_id.astype(np.int64))
    return nms(dets, params.iou, class_aware=True, max_det=params.max_det)


def decode_ssd(outputs: Mapping[str, Array], width: int, height: int, params: DecodeParams) -> Detections:
    """TF OD API SSD outputs (by name) -> Detections (xyxy in model-input pixels, 0-based class ids)."""
    missing = [name for name in SSD_OUTPUTS if name not in outputs]
    if missing:
        raise ValueError(f"SSD model lacks outputs {missing} (has {sorted(outputs)})")
    n = int(np.asarray(outputs["num_detections"]).reshape(-1)[0])
    boxes = np.asarray(outputs["detection_boxes"], np.float32).reshape(-1, 4)[:n]
    scores = np.asarray(outputs["detection_scores"], np.float32).reshape(-1)[:n]
    class_id = np.rint(np.asarray(outputs["detection_classes"]).reshape(-1)[:n]).astype(np.int64) - 1
    keep = scores >= params.conf
    if params.classes is not None:
        keep &= np.isin(class_id, params.classes)
    ymin, xmin, ymax, xmax = boxes[keep].T
    xyxy = np.stack([xmin * width, ymin * height, xmax * width, ymax * height], axis=1)
    return Detections(xyxy.astype(np.float32), scores[keep], class_id[keep])[: params.max_det]
