"""The label image: the tag's size, the tags' three colours, the promotion band and the struck price only when
there is one, and every price a different picture."""

from __future__ import annotations

from PIL import Image

from hardware.labels.base import LabelContent
from hardware.labels.render import amount, json_template, render_label


def red_pixels(image: Image.Image, top: int = 0) -> int:
    return sum(1 for y in range(top, image.height) for x in range(image.width)
               if image.getpixel((x, y)) == (255, 0, 0))


def test_size_and_plain_price_is_black_on_white() -> None:
    image = render_label(LabelContent("t", "SKU-1", 2.49, "EUR"), 200, 96)
    assert image.size == (200, 96) and image.mode == "RGB"
    assert red_pixels(image) == 0
    colours = {c for _, c in image.getcolors(200 * 96) or []}
    assert (0, 0, 0) in colours and (255, 255, 255) in colours


def test_promo_band_and_struck_was_price_are_red() -> None:
    plain = render_label(LabelContent("t", "SKU-1", 2.49, "EUR", was=2.99), 296, 128)
    promo = render_label(LabelContent("t", "SKU-1", 2.49, "EUR", promo="-17% this week"), 296, 128)
    assert red_pixels(plain) > 0 and red_pixels(plain) == red_pixels(plain.crop((0, 0, 296, 20)))  # the strike line
    assert red_pixels(promo, top=100) > 0.5 * 296 * 28  # the band along the bottom


def test_every_price_is_its_own_picture() -> None:
    a = render_label(LabelContent("t", "SKU-1", 2.49, "EUR"), 296, 128).tobytes()
    b = render_label(LabelContent("t", "SKU-1", 2.59, "EUR"), 296, 128).tobytes()
    c = render_label(LabelContent("t", "SKU-2", 2.49, "EUR"), 296, 128).tobytes()
    assert len({a, b, c}) == 3


def test_amounts_use_the_currencys_decimals() -> None:
    assert [amount(2.5, "EUR"), amount(1200, "JPY"), amount(1.2345, "KWD"), amount(0.1 + 0.2, "USD")] == [
        "2.50", "1200", "1.234", "0.30"]
    texts = [e["text"][2] for e in json_template(LabelContent("t", "S", 1200, "JPY"), 296, 128) if "text" in e]
    assert texts == ["S", "1200", "JPY"]
