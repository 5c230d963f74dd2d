"""Customer reviews, inside the write transaction: each new review is scored (text sentiment and aspect
polarities, :mod:`collector.sentiment.analyse`) and stored once per store and review id, whether it came as a
``feedback.review`` event or from ``smartstore sentiment import``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from collector.store.database import Database

#: (store, review id, sku, ts, text, rating or None, lang or None, source)
ReviewRow = tuple[str, str, str, float, str, float | None, str | None, str]


class ReviewWrites(Database):
    def _insert_reviews(self, cur: Any, rows: Sequence[ReviewRow]) -> int:
        """Score and insert-or-ignore ``rows`` (by store and id); returns how many were new."""
        from collector.sentiment.analyse import analyse

        first: dict[tuple[str, str], ReviewRow] = {}
        for r in rows:  # the first of a review id wins, as across batches
            first.setdefault((r[0], r[1]), r)
        fresh = list(first.values())
        stored = set()
        for store, rid in first:
            cur.execute(self.sql("SELECT 1 FROM reviews WHERE store = ? AND id = ?"), (store, rid))
            if cur.fetchone() is not None:
                stored.add((store, rid))
        fresh = [r for r in fresh if (r[0], r[1]) not in stored]
        if not fresh:
            return 0
        scored = analyse([r[4] for r in fresh], [r[6] for r in fresh])
        now = time.time()
        cur.executemany(self.sql(
            "INSERT INTO reviews (store, id, sku, ts, text, rating, lang, label, score, aspects, source, stored) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, id) DO NOTHING"),
            [(store, rid, sku, ts, text, rating, a.lang, a.label, a.score,
              json.dumps([list(x) for x in a.aspects], ensure_ascii=False), source, now)
             for (store, rid, sku, ts, text, rating, _, source), a in zip(fresh, scored, strict=True)])
        return len(fresh)

    def import_reviews(self, rows: Sequence[ReviewRow]) -> int:
        """Score and store reviews (a CSV import); returns how many were new (the rest were already stored)."""
        with self.write() as cur:
            return self._insert_reviews(cur, rows)
