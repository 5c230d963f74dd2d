"""Load basket tables ``transaction_id,item[,timestamp,customer_id]`` into a sparse basket x item matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from errors import SmartstoreError

REQUIRED = ("transaction_id", "item")


class BasketInputError(SmartstoreError):
    """A basket table that cannot be used as given (one line, names the problem)."""


@dataclass
class Baskets:
    """Binary basket x item matrix plus per-basket context (hour, weekday) when timestamps are given."""

    items: np.ndarray  # item names (column order)
    matrix: sp.csr_matrix  # (baskets, items), 1.0 where the basket holds the item
    ids: np.ndarray  # transaction ids (row order: by time when timestamps exist, else file order)
    hour: np.ndarray | None = None  # (baskets,) 0-23
    weekday: np.ndarray | None = None  # (baskets,) 0 = Monday
    customer: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.matrix.shape[0])

    def rows(self, idx: np.ndarray) -> Baskets:
        pick = (lambda a: None if a is None else a[idx])  # noqa: E731
        return Baskets(self.items, self.matrix[idx], self.ids[idx], pick(self.hour), pick(self.weekday),
                       pick(self.customer))


def read_baskets(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise BasketInputError(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype={"transaction_id": str, "item": str, "customer_id": str})
    except pd.errors.EmptyDataError as exc:
        raise BasketInputError(f"{path}: empty basket file (need columns {','.join(REQUIRED)})") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BasketInputError(f"{path}: not a readable CSV table ({str(exc).splitlines()[0]})") from exc


def to_baskets(raw: pd.DataFrame, source: str = "input", items: np.ndarray | None = None) -> Baskets:
    """Validate a basket line table and build the matrix (``items``: a fixed item vocabulary; others dropped)."""
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise BasketInputError(
            f"{source}: missing column(s) {', '.join(missing)} (need {','.join(REQUIRED)}[,timestamp,customer_id]; "
            f"found {','.join(map(str, raw.columns)) or 'none'})"
        )
    raw = raw.dropna(subset=list(REQUIRED))
    raw = raw[raw["item"].astype(str).str.strip() != ""]
    if raw.empty:
        raise BasketInputError(f"{source}: no basket lines (every row is empty)")
    tid = raw["transaction_id"].astype(str).to_numpy()
    item = raw["item"].astype(str).str.strip().to_numpy()
    ts = None
    if "timestamp" in raw.columns:
        ts = pd.to_datetime(raw["timestamp"], errors="coerce", format="mixed")
        bad = ts.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise BasketInputError(
                f"{source}: unparsable timestamp {raw['timestamp'].iloc[row]!r} (column timestamp, line {row + 2})"
            )
    ids, row_of = np.unique(tid, return_inverse=True)
    vocab = np.unique(item) if items is None else np.asarray(items)
    col_of = pd.Index(vocab).get_indexer(item)
    known = col_of >= 0
    matrix = sp.csr_matrix((np.ones(int(known.sum())), (row_of[known], col_of[known])), shape=(ids.size, vocab.size))
    matrix.data[:] = 1.0  # repeated lines of one item count once
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    hour = weekday = customer = None
    order = np.arange(ids.size)
    if ts is not None:
        first = pd.Series(ts.to_numpy()).groupby(row_of).min()
        hour, weekday = first.dt.hour.to_numpy(), first.dt.dayofweek.to_numpy()
        order = np.argsort(first.to_numpy(), kind="stable")
    if "customer_id" in raw.columns:
        customer = pd.Series(raw["customer_id"].astype(str).to_numpy()).groupby(row_of).first().to_numpy()
    out = Baskets(vocab, matrix.tocsr(), ids, hour, weekday, customer)
    return out.rows(order)


def load_baskets(path_or_df: str | Path | pd.DataFrame) -> Baskets:
    if isinstance(path_or_df, pd.DataFrame):
        return to_baskets(path_or_df)
    return to_baskets(read_baskets(path_or_df), str(path_or_df))
