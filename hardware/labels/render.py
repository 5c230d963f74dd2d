"""What a shelf label shows, drawn with Pillow at the tag's size: the price large with its ISO 4217 currency code
(Pillow's bundled font has no currency symbols), the previous price struck through, a promotion band in red (the
e-paper tags' third colour) and the SKU.

:func:`render_label` gives the image (RGB: white, black, red only, so that an access point dithers nothing);
:func:`json_template` the same layout as an OpenEPaperLink JSON drawing template (``text``, ``line`` and ``box``
elements), for access points that draw labels themselves.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from hardware.labels.base import LabelContent

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont, ImageFont

WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (255, 0, 0)
#: ISO 4217 minor units that are not 2
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


def amount(value: float, currency: str) -> str:
    """``value`` with the currency's decimals (2.5 EUR -> ``2.50``, 120 JPY -> ``120``)."""
    places = MINOR_UNITS.get(currency, 2)
    return f"{Decimal(str(value)).quantize(Decimal(1).scaleb(-places)):f}"


@cache
def font(size: int) -> FreeTypeFont | ImageFont:
    """Pillow's bundled scalable font (no font file on the box needed)."""
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _layout(content: LabelContent, width: int, height: int) -> list[tuple[str, Any]]:
    """The drawing as ``(kind, args)``: ``text`` (x, y, text, size, colour), ``line`` (x0, y0, x1, y1, colour),
    ``box`` (x, y, w, h, colour); shared by the image and the JSON template."""
    margin = max(2, height // 32)
    band = height // 4 if content.promo else 0
    small = max(10, height // 9)
    items: list[tuple[str, Any]] = [("text", (margin, margin, content.sku, small, BLACK))]
    if content.was is not None:
        was = f"{amount(content.was, content.currency)} {content.currency}"
        x = width - margin - int(font(small).getlength(was))
        items.append(("text", (x, margin, was, small, BLACK)))
        items.append(("line", (x, margin + small // 2 + 1, width - margin, margin + small // 2 + 1, RED)))
    price = amount(content.price, content.currency)
    code = max(10, height // 7)  # the currency code, beside the price
    room = height - band - small - 3 * margin
    size = max(12, room)
    while size > 12 and font(size).getlength(price) + margin + font(code).getlength(content.currency) > \
            width - 2 * margin:
        size -= 2
    top = small + 2 * margin
    fill = RED if content.promo else BLACK
    items.append(("text", (margin, top, price, size, fill)))
    items.append(("text", (2 * margin + int(font(size).getlength(price)), top + size // 6, content.currency, code,
                           fill)))
    if content.promo:
        items.append(("box", (0, height - band, width, band, RED)))
        promo_size = max(10, band * 3 // 4)
        while promo_size > 10 and font(promo_size).getlength(content.promo) > width - 2 * margin:
            promo_size -= 1
        items.append(("text", (margin, height - band + (band - promo_size) // 2, content.promo, promo_size, WHITE)))
    return items


def render_label(content: LabelContent, width: int, height: int) -> Image:
    """The label as a ``width`` x ``height`` RGB image."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    for kind, args in _layout(content, width, height):
        if kind == "text":
            x, y, text, size, colour = args
            draw.text((x, y), text, fill=colour, font=font(size))
        elif kind == "line":
            x0, y0, x1, y1, colour = args
            draw.line((x0, y0, x1, y1), fill=colour, width=2)
        else:
            x, y, w, h, colour = args
            draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
    return image


def json_template(content: LabelContent, width: int, height: int) -> list[dict[str, list[Any]]]:
    """The same layout as an OpenEPaperLink JSON template: ``{"text": [x, y, text, font, colour]}``,
    ``{"line": [x0, y0, x1, y1, colour]}``, ``{"box": [x, y, w, h, colour]}`` (colours 0 white, 1 black, 2 red;
    the access point's bundled ``fonts/bahnschrift*`` sizes)."""
    colour = {WHITE: 0, BLACK: 1, RED: 2}
    elements: list[dict[str, list[Any]]] = []
    for kind, args in _layout(content, width, height):
        if kind == "text":
            x, y, text, size, fill = args
            face = "fonts/bahnschrift70" if size >= 50 else "fonts/bahnschrift30" if size >= 24 else \
                "fonts/bahnschrift20"
            elements.append({"text": [x, y, text, face, colour[fill]]})
        else:
            *coords, fill = args
            elements.append({kind: [*coords, colour[fill]]})
    return elements
