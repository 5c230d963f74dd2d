"""Prices onto shelf labels: what a ``set_prices`` command does on the box (docs/labels.md).

:class:`PriceBoard` routes each price to the first gateway of ``labels.gateways`` whose ``labels`` patterns match
the label, renders the label at that gateway's tag size (kept as ``<folder>/images/<price_id>.png`` for audit),
pushes it with retries (:func:`hardware.labels.base.push_with_retry`) and answers ``applied`` or ``failed`` with
the reason, per price. A ``price_id`` once applied is remembered (``<folder>/applied.db``, SQLite) and never pushed
again: a second command carrying it answers ``applied`` with ``reason: "already applied"``.
"""

from __future__ import annotations

import fnmatch
import logging
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

from contract.commands import LabelPrice, LabelResult
from contract.events import format_ts, utc_now
from edge.labels_config import LabelsConfig
from hardware.labels.base import LabelContent, LabelError, LabelGateway, create, push_with_retry
from hardware.labels.render import render_label

log = logging.getLogger("smartstore.labels")
ALREADY_APPLIED = "already applied"


class PriceBoard:
    """The gateways of one ``labels:`` section, the audit images and the applied price ids under ``folder``."""

    def __init__(self, config: LabelsConfig, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.images = folder / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self.gateways: list[LabelGateway] = [create(g) for g in config.gateways]
        self._lock = threading.Lock()
        self._db = sqlite3.connect(folder / "applied.db", check_same_thread=False)
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS applied (price_id TEXT PRIMARY KEY, label TEXT NOT NULL, "
                             "ts TEXT NOT NULL, ack TEXT NOT NULL)")

    def close(self) -> None:
        for gateway in self.gateways:
            gateway.close()
        self._db.close()

    def gateway_for(self, label: str) -> LabelGateway | None:
        for gateway in self.gateways:
            if any(fnmatch.fnmatchcase(label.upper(), p.upper()) for p in gateway.config.labels):
                return gateway
        return None

    def applied(self, price_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM applied WHERE price_id = ?", (price_id,)).fetchone() is not None

    def set_prices(self, prices: list[LabelPrice]) -> list[LabelResult]:
        """Push every price (in order, one gateway request at a time); one result per price."""
        with self._lock:
            results = []
            for price in prices:
                try:
                    results.append(self._one(price))
                except sqlite3.Error as exc:  # the label may show it; unrecorded, a re-send pushes it again
                    results.append(self._failed(price, f"{self.folder / 'applied.db'}: {exc}"))
            self._prune()
        return results

    def _one(self, price: LabelPrice) -> LabelResult:
        if self.applied(price.price_id):
            return LabelResult(price.price_id, "applied", ALREADY_APPLIED)
        gateway = self.gateway_for(price.label)
        if gateway is None:
            return self._failed(price, f"{price.label}: no gateway serves this label (labels.gateways[].labels)")
        cfg = gateway.config
        content = LabelContent(price.label, price.sku, price.price, price.currency, price.was, price.promo)
        try:
            image = render_label(content, cfg.width, cfg.height)
            image.save(self.images / f"{price.price_id}.png")
            ack = push_with_retry(gateway, replace(content, image=image))
        except LabelError as exc:
            return self._failed(price, str(exc))
        except Exception as exc:  # a driver bug must fail this label, not the command worker
            log.exception("labels: %s: push of %s failed", gateway.describe(), price.price_id)
            return self._failed(price, f"{price.label}: {gateway.describe()}: internal error: {exc}")
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO applied VALUES (?, ?, ?, ?)",
                             (price.price_id, price.label, format_ts(utc_now()), ack.detail))
        log.info("labels: %s shows %s %s (%s, %s)", price.label, price.price, price.currency, price.price_id,
                 ack.detail)
        return LabelResult(price.price_id, "applied")

    @staticmethod
    def _failed(price: LabelPrice, reason: str) -> LabelResult:
        log.error("labels: price %s not shown: %s", price.price_id, reason)
        return LabelResult(price.price_id, "failed", reason)

    def _prune(self) -> None:
        """Keep the newest ``keep_images`` rendered images."""
        try:
            files = sorted(self.images.glob("*.png"), key=lambda p: p.stat().st_mtime)
            for old in files[: max(0, len(files) - self.config.keep_images)]:
                old.unlink(missing_ok=True)
        except OSError as exc:  # the prices are on the labels: a cleanup problem must not fail the command
            log.warning("labels: could not prune %s: %s", self.images, exc)
