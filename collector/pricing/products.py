"""The price list: one :class:`Product` per store and SKU (base price, cost floor, ceiling, expiry, shelf label),
read from a CSV file (``smartstore pricing import``).

CSV columns (header row, any order): ``sku``, ``base``, ``floor`` (required); ``ceiling``, ``expiry``, ``name``,
``currency``, ``label``, ``store`` (optional; ``store`` or ``--store``). ``expiry`` is a date (``2026-12-03``:
good through that day, so it expires at the next midnight UTC) or an ISO 8601 time.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from errors import SmartstoreError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # store ids, as in the event schema
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # shelf label ids (contract: set_prices args.labels)
CURRENCY = re.compile(r"^[A-Z]{3}$")
REQUIRED = ("sku", "base", "floor")
KNOWN = {*REQUIRED, "ceiling", "expiry", "name", "currency", "label", "store"}


class PriceListError(SmartstoreError):
    """A price-list file that cannot be read or has a bad row (one line naming file, line, field and value)."""


@dataclass(frozen=True, slots=True)
class Product:
    """One SKU of one store's price list. ``floor``: never sell below (cost); ``ceiling``: never above (None:
    no ceiling); ``expiry``: epoch seconds (None: does not expire); ``label``: its shelf label (None: no label)."""

    store: str
    sku: str
    base: float
    floor: float
    currency: str
    ceiling: float | None = None
    expiry: float | None = None
    name: str | None = None
    label: str | None = None


def parse_expiry(text: str) -> float:
    """A date (expires at the end of that day, UTC) or an ISO 8601 time as epoch seconds; ValueError otherwise."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return (day + timedelta(days=1)).timestamp()
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def _number(where: str, field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PriceListError(f"{where}: {field} {text!r} is not a number") from None
    if not value >= 0 or value > 1_000_000:
        raise PriceListError(f"{where}: {field} {text!r} must be between 0 and 1000000")
    return value


def product_from_row(row: dict[str, str], where: str, store: str | None, currency: str) -> Product:
    """One CSV row as a :class:`Product`; :class:`PriceListError` naming ``where`` (file:line) and the field."""
    get = {k: (v or "").strip() for k, v in row.items() if k}
    shop = get.get("store") or store
    if not shop or not NAME.match(shop):
        raise PriceListError(f"{where}: store {shop!r} is not a store id (a store column or --store)")
    sku = get.get("sku", "")
    if not sku or len(sku) > 64 or "\x00" in sku:
        raise PriceListError(f"{where}: sku {sku!r} must be 1-64 characters")
    base, floor = _number(where, "base", get.get("base", "")), _number(where, "floor", get.get("floor", ""))
    ceiling = _number(where, "ceiling", get["ceiling"]) if get.get("ceiling") else None
    if base <= 0:
        raise PriceListError(f"{where}: base {get['base']!r} must be above 0")
    if ceiling is not None and ceiling < floor:
        raise PriceListError(f"{where}: ceiling {get['ceiling']!r} is below floor {get['floor']!r}")
    cur = get.get("currency") or currency
    if not CURRENCY.match(cur):
        raise PriceListError(f"{where}: currency {cur!r} is not an ISO 4217 code (three capitals)")
    label = get.get("label") or None
    if label is not None and not LABEL.match(label):
        raise PriceListError(f"{where}: label {label!r} is not a tag id (letters, digits, _.:-; at most 64)")
    expiry = None
    if get.get("expiry"):
        try:
            expiry = parse_expiry(get["expiry"])
        except ValueError:
            raise PriceListError(f"{where}: expiry {get['expiry']!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return Product(shop, sku, base, floor, cur, ceiling, expiry, get.get("name") or None, label)


def read_price_list(path: Path, store: str | None = None, currency: str = "EUR") -> Iterator[Product]:
    """The products of a price-list CSV (see the module docstring), checked row by row."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise PriceListError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise PriceListError(f"{path}: missing column(s) {', '.join(missing)} (have {', '.join(header) or 'none'})")
        unknown = sorted(set(header) - KNOWN)
        if unknown:
            raise PriceListError(f"{path}: unknown column(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN))})")
        reader.fieldnames = header
        try:
            for row in reader:
                yield product_from_row(row, f"{path}:{reader.line_num}", store, currency)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise PriceListError(f"{path}:{reader.line_num}: not a CSV row: {exc}") from None
