"""PostgreSQL's ``events`` partitions: one per UTC day of ``stored``, created ahead, dropped past retention.

The partitioned table comes from migration 9 (:mod:`collector.store.schema`); the table it replaced is the
partition ``events_legacy`` (everything stored before the migration day ended). Callers hold the migration's
advisory lock, so replicas never create or drop partitions at the same time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DAY = 86400
AHEAD_DAYS = 7  # days of partitions kept ready past today
_BOUND = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    low: float  # -inf for MINVALUE
    high: float


def _bound(text: str) -> float:
    text = text.strip("'")
    return {"MINVALUE": -math.inf, "MAXVALUE": math.inf}.get(text) or float(text)


def partitions(cur: Any) -> list[Partition]:
    """The partitions of ``events`` in this schema, oldest first."""
    cur.execute("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass")
    found = []
    for name, bound in cur.fetchall():
        match = _BOUND.search(bound)
        if match is None:
            raise RuntimeError(f"events partition {name} has an unexpected bound: {bound}")
        found.append(Partition(name, _bound(match[1]), _bound(match[2])))
    return sorted(found, key=lambda p: p.low)


def ensure(cur: Any, start: float, end: float) -> float:
    """Create the day partitions covering ``[start, end)`` that do not exist yet; returns the end of the
    contiguous coverage from ``start`` (so a writer knows how far it can go without asking again)."""
    existing = partitions(cur)
    day = math.floor(start / DAY) * DAY
    while day < end:
        if not any(p.low <= day < p.high for p in existing):
            name = "events_" + datetime.fromtimestamp(day, UTC).strftime("%Y%m%d")
            cur.execute(f'CREATE TABLE "{name}" PARTITION OF events FOR VALUES FROM ({day}) TO ({day + DAY})')
            existing.append(Partition(name, day, day + DAY))
        day += DAY
    covered: float = math.floor(start / DAY) * DAY
    for p in sorted(existing, key=lambda p: p.low):
        if p.low <= covered < p.high:
            covered = p.high
    return covered


def drop_before(cur: Any, cutoff: float) -> int:
    """Drop the partitions holding only rows stored before ``cutoff``; returns how many rows they held."""
    rows = 0
    for p in partitions(cur):
        if p.high <= cutoff:
            cur.execute(f'SELECT COUNT(*) FROM "{p.name}"')
            rows += int(cur.fetchone()[0])
            cur.execute(f'DROP TABLE "{p.name}"')
    return rows
