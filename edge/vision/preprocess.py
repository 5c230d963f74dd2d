"""Frame -> model input: letterbox or stretch resize, colour order, normalisation, layout. Vectorised (OpenCV/numpy).

:func:`fit` resizes a BGR frame to the model's input size and returns the :class:`Transform` that maps boxes in
model-input pixels back to the frame; :func:`to_tensor` turns the resized uint8 image into the model's tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.models import InputSpec

Image = npt.NDArray[np.uint8]
PAD_VALUE = 114  # ultralytics' letterbox grey


@dataclass(frozen=True, slots=True)
class Transform:
    """Model-input pixel ``(x, y)`` -> frame pixel ``((x - pad_x) / scale_x + x0, (y - pad_y) / scale_y + y0)``.

    ``x0, y0`` offset a tile's window inside the frame; ``frame_w, frame_h`` clip the result.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    frame_w: int
    frame_h: int
    x0: float = 0.0
    y0: float = 0.0

    def to_frame(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        scale = np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], np.float32)
        offset = np.array([self.x0, self.y0, self.x0, self.y0], np.float32)
        boxes = (xyxy - pad) / scale + offset
        limit = np.array([self.frame_w, self.frame_h, self.frame_w, self.frame_h], np.float32)
        return np.clip(boxes, 0, limit).astype(np.float32)


def letterbox(image: npt.NDArray[Any], width: int, height: int) -> tuple[Image, Transform]:
    """Resize keeping the aspect ratio, centred on a grey ``width x height`` canvas."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = round(w * scale), round(h * scale)
    pad_x, pad_y = (width - new_w) / 2, (height - new_h) / 2
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    out = cv2.copyMakeBorder(resized, top, height - new_h - top, left, width - new_w - left, cv2.BORDER_CONSTANT,
                             value=(PAD_VALUE, PAD_VALUE, PAD_VALUE))
    return cast(Image, out), Transform(new_w / w, new_h / h, float(left), float(top), w, h)


def stretch(image: npt.NDArray[Any], width: int, height: int) -> tuple[Image, Transform]:
    """Resize to exactly ``width x height`` (what TF Object Detection API models were trained with)."""
    h, w = image.shape[:2]
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return cast(Image, out), Transform(width / w, height / h, 0.0, 0.0, w, h)


def fit(image: npt.NDArray[Any], spec: InputSpec) -> tuple[Image, Transform]:
    """Resize a BGR frame to the model input size as the manifest says (``letterbox`` or ``stretch``)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    resize = letterbox if spec.resize == "letterbox" else stretch
    return resize(image, spec.width, spec.height)


def to_tensor(image: Image, spec: InputSpec) -> npt.NDArray[np.generic]:
    """Resized uint8 BGR image -> batched model tensor (colour order, mean/std, layout, dtype per ``spec``)."""
    x: npt.NDArray[np.generic] = image[:, :, ::-1] if spec.color == "RGB" else image
    if spec.dtype == "uint8":
        x = np.ascontiguousarray(x)
    else:
        mean = np.asarray(spec.mean, np.float32)
        inv_std = np.float32(1.0) / np.asarray(spec.std, np.float32)
        x = (x.astype(np.float32) - mean) * inv_std if np.any(mean) else x.astype(np.float32) * inv_std
        x = x.astype(spec.dtype, copy=False)
    if spec.layout == "NCHW":
        x = np.ascontiguousarray(x.transpose(2, 0, 1))
    return x[None]
