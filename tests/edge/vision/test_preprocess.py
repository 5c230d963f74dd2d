"""Letterbox/stretch geometry, the inverse box transform, and tensor layout/normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.models import InputSpec
from edge.vision.preprocess import PAD_VALUE, fit, letterbox, stretch, to_tensor


@settings(max_examples=60, deadline=None)
@given(w=st.integers(16, 1500), h=st.integers(16, 1500), size=st.sampled_from([(640, 640), (320, 256)]))
def test_letterbox_maps_boxes_back(w: int, h: int, size: tuple[int, int]) -> None:
    image = np.zeros((h, w, 3), np.uint8)
    out, transform = letterbox(image, *size)
    assert out.shape == (size[1], size[0], 3)
    # the frame's corners land on the content's corners, and map back to the frame's corners
    corners = np.array([[transform.pad_x, transform.pad_y, size[0] - transform.pad_x, size[1] - transform.pad_y]],
                       np.float32)
    np.testing.assert_allclose(transform.to_frame(corners)[0], [0, 0, w, h], atol=1.5)


def test_letterbox_pads_grey_and_keeps_aspect() -> None:
    image = np.full((576, 768, 3), 7, np.uint8)
    out, transform = letterbox(image, 640, 640)
    assert transform.scale_x == transform.scale_y == 640 / 768
    assert (out[:80] == PAD_VALUE).all() and (out[80:560] == 7).all() and (out[560:] == PAD_VALUE).all()


def test_stretch_and_tile_offset() -> None:
    image = np.zeros((576, 768, 3), np.uint8)
    out, transform = stretch(image, 300, 300)
    assert out.shape == (300, 300, 3)
    np.testing.assert_allclose(transform.to_frame(np.array([[0, 0, 300, 300]], np.float32)), [[0, 0, 768, 576]])


def test_to_tensor_layout_colour_and_normalisation() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 20, 255  # BGR
    rgb = InputSpec(width=6, height=4, mean=[0, 0, 0], std=[255, 255, 255])
    x = to_tensor(image, rgb)
    assert x.shape == (1, 3, 4, 6) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, 20 / 255, 10 / 255], rtol=1e-6)
    nhwc = InputSpec(width=6, height=4, layout="NHWC", dtype="uint8", std=[1, 1, 1])
    y = to_tensor(image, nhwc)
    assert y.shape == (1, 4, 6, 3) and y.dtype == np.uint8 and y[0, 0, 0].tolist() == [255, 20, 10]
    centred = InputSpec(width=6, height=4, color="BGR", mean=[10, 20, 255], std=[2, 2, 2])
    assert np.abs(to_tensor(image, centred)).max() == 0


def test_fit_rejects_non_bgr() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        fit(np.zeros((4, 4), np.uint8), InputSpec(width=4, height=4))
