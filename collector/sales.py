"""``smartstore collector import-sales``: point-of-sale history from CSV into the ``sales`` table.

Columns (header names, case-insensitive): SKU (``sku``/``item``/``product``), time (``ts``/``timestamp``/
``datetime``/``time``, or ``date`` plus ``time``), optional quantity (``qty``/``quantity``, default 1), ``price``,
basket (``receipt``/``basket``/``basket_id``/``transaction``/``transaction_id``) and ``store`` (else ``--store``).
Times without a zone are taken as UTC. Re-importing the same file adds nothing: row ids are content hashes.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from errors import SmartstoreError

ALIASES = {
    "sku": ("sku", "item", "product"),
    "ts": ("ts", "timestamp", "datetime"),
    "date": ("date",),
    "time": ("time",),
    "qty": ("qty", "quantity"),
    "price": ("price",),
    "receipt": ("receipt", "basket", "basket_id", "transaction", "transaction_id"),
    "store": ("store",),
}
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%m/%d/%Y")


class SalesInputError(SmartstoreError):
    """A sales CSV that cannot be imported as given (one line naming the file, line and problem)."""


def _columns(header: list[str], path: Path) -> dict[str, int]:
    lower = [h.strip().lower() for h in header]
    found = {key: next((lower.index(a) for a in names if a in lower), -1) for key, names in ALIASES.items()}
    if found["sku"] < 0:
        raise SalesInputError(f"{path}: no SKU column (one of {', '.join(ALIASES['sku'])}) in header {header}")
    if found["ts"] < 0 and found["date"] < 0 and found["time"] < 0:
        raise SalesInputError(f"{path}: no time column (ts/timestamp/datetime, or date and time) in header {header}")
    return found


def _parse_time(text: str, date_format: list[str]) -> float:
    """ISO 8601 first, then the date formats (the first that works is kept for the rest of the file)."""
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        day, _, clock = text.partition(" ")
        formats = date_format or list(DATE_FORMATS)
        for fmt in formats:
            try:
                parsed = datetime.strptime(f"{day} {clock or '00:00:00'}", f"{fmt} %H:%M:%S")
            except ValueError:
                continue
            date_format[:] = [fmt]
            break
        else:
            raise ValueError(f"unparsable time {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _number(text: str, what: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not a finite number")
    return value


def read_sales(path: Path, store: str | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows ``(id, store, sku, qty, price, receipt, ts, source)`` for :meth:`Store.import_sales`."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise SalesInputError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise SalesInputError(f"{path}: empty file (a header row is needed)")
        col = _columns(header, path)
        if col["store"] < 0 and not store:
            raise SalesInputError(f"{path}: no store column; give the store with --store")
        date_format: list[str] = []
        seen: Counter[str] = Counter()
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise SalesInputError(f"{path} line {line}: {len(row)} fields, the header has {len(header)}")

            def cell(key: str, row: list[str] = row) -> str:
                return row[col[key]].strip() if col[key] >= 0 else ""

            try:
                when = cell("ts") or f"{cell('date')} {cell('time')}".strip()
                ts = _parse_time(when, date_format)
                qty = _number(cell("qty"), "qty") if cell("qty") else 1.0
                price = _number(cell("price"), "price") if cell("price") else None
            except ValueError as exc:
                raise SalesInputError(f"{path} line {line}: {exc}") from None
            sku, row_store, receipt = cell("sku"), cell("store") or store, cell("receipt") or None
            if not sku:
                raise SalesInputError(f"{path} line {line}: empty SKU")
            key = f"{row_store}|{receipt}|{sku}|{ts}|{qty}|{price}"
            seen[key] += 1
            row_id = hashlib.sha1(f"{key}|{seen[key]}".encode()).hexdigest()[:32]
            yield row_id, row_store, sku, qty, price, receipt, ts, "csv"
