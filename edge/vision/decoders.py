"""Raw model outputs -> :class:`Detections` in model-input pixels. Vectorised numpy, no per-box Python loops.

- ``yolo``: ultralytics v8/11 detect head, one output ``[1, 4 + nc, N]`` (cx, cy, w, h, class scores), then
  class-aware NMS.
- ``ssd``: TF Object Detection API post-processed outputs ``detection_boxes [1, M, 4]`` (normalised ymin, xmin,
  ymax, xmax), ``detection_scores``, ``detection_classes`` (1-based, 0 = background) and ``num_detections``;
  NMS already ran inside the graph. Class ids are returned 0-based (``class - 1``) to index the manifest's labels.
- ``ssd-raw``: the same SSD cut before its post-processor (ONNX and LiteRT files, see ``export/ssd_raw.py``): one
  output ``[1, anchors, 4 + 1 + nc]``, raw box encodings ``ty, tx, th, tw`` then class logits (background first).
  :class:`SsdHead` (the JSON file :data:`SSD_HEAD` beside the model: anchors, scale factors, NMS IoU, maximum
  detections, read from the original graph) decodes them as the TF OD API does: Faster R-CNN box coder, sigmoid
  scores, per-class NMS at the graph's IoU (not ``DecodeParams.iou``: the model's own post-processing, as in
  ``ssd``), then boxes clipped to the image and empty ones dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.vision.detections import Detections
from edge.vision.nms import nms

Array = npt.NDArray[np.float32]
SSD_OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
SSD_HEAD = "ssd-head.json"  # the extra file of an ssd-raw model file


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


@dataclass(frozen=True)
class SsdHead:
    """What a TF OD API SSD post-processor needs besides the raw outputs (``ssd-head.json``)."""

    anchors: Array  # (n, 4) normalised ymin, xmin, ymax, xmax
    scale_factors: tuple[float, float, float, float]  # ty, tx, th, tw divisors (TF OD API: 10, 10, 5, 5)
    iou: float  # NMS IoU threshold of the graph
    max_detections: int

    @classmethod
    def load(cls, path: Path) -> SsdHead:
        """Read ``path``; ValueError naming the file when it is not a head file."""
        try:
            data = json.loads(Path(path).read_text())
            anchors = np.asarray(data["anchors"], np.float32).reshape(-1, 4)
            y0, x0, y1, x1 = (float(v) for v in data["scale_factors"])
            return cls(anchors, (y0, x0, y1, x1), float(data["iou"]), int(data["max_detections"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not an SSD head file ({exc})") from None


def decode_ssd_raw(output: Array, head: SsdHead, width: int, height: int, params: DecodeParams) -> Detections:
    """Raw SSD ``[1, n, 4 + 1 + nc]`` -> Detections (xyxy in model-input pixels, 0-based class ids)."""
    pred = np.asarray(output, np.float32).reshape(-1, output.shape[-1])
    if len(pred) != len(head.anchors):
        raise ValueError(f"SSD output has {len(pred)} boxes, the head file {len(head.anchors)} anchors")
    logits = pred[:, 5:]  # column 4 is the background class
    if params.classes is not None:
        logits = logits[:, np.asarray(params.classes, np.int64)]
    threshold = np.log(params.conf / (1.0 - params.conf)) if 0.0 < params.conf < 1.0 else -np.inf
    anchor, column = np.nonzero(logits >= threshold)  # sigmoid(logit) >= conf, one candidate per anchor and class
    if len(anchor) == 0:
        return Detections.empty()
    class_id = np.asarray(params.classes, np.int64)[column] if params.classes is not None else column.astype(np.int64)
    score = 1.0 / (1.0 + np.exp(-logits[anchor, column]))
    ty, tx, th, tw = (pred[anchor, :4] / np.asarray(head.scale_factors, np.float32)).T
    ymin, xmin, ymax, xmax = head.anchors[anchor].T
    ha, wa = ymax - ymin, xmax - xmin
    yc, xc = ty * ha + (ymin + ymax) / 2, tx * wa + (xmin + xmax) / 2
    h, w = np.exp(th) * ha, np.exp(tw) * wa
    size = np.array([width, height, width, height], np.float32)
    xyxy = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1) * size
    dets = nms(Detections(xyxy.astype(np.float32), score.astype(np.float32), class_id), head.iou, class_aware=True)
    clipped = np.clip(dets.xyxy, 0.0, size)  # TF clips to the image after NMS and drops boxes left empty
    area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    return Detections(clipped, dets.score, dets.class_id)[area > 0][: min(params.max_det, head.max_detections)]
