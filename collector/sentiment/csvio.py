"""Review CSVs in and scores out, with one-line errors for files that are missing, empty, undecodable or lack
a column."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from errors import SmartstoreError


class SentimentInputError(SmartstoreError):
    """A review file or value that cannot be used (one line naming the file, column and value)."""


def read_csv(path: str | Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """Every column as text (empty cells as ``''``); UTF-8 (a BOM is fine)."""
    path = Path(path)
    if not path.is_file():
        raise SentimentInputError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SentimentInputError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except pd.errors.EmptyDataError:
        raise SentimentInputError(f"{path}: empty file (expected a header line with {','.join(required)})") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise SentimentInputError(f"{path}: not a CSV file ({str(exc).strip().splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SentimentInputError(f"{path}: missing column {', '.join(missing)} (found: {','.join(df.columns)})")
    return df


def write_scores(path: str | Path, rows: Iterable[tuple[str, str, float]]) -> int:
    """``id,label,score`` lines (score rounded to 4 decimals); returns how many were written."""
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(("id", "label", "score"))
        for rid, label, score in rows:
            out.writerow((rid, label, f"{score:.4f}"))
            n += 1
    return n
