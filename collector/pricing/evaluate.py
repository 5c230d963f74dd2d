"""One evaluation of a store's price list: signals in, the rules (:mod:`collector.pricing.rules`) per product,
and a new price wherever the rules give another price or promotion than the current (or pending) one, with the
steps in its audit row. ``pricing.auto_approve`` approves them at once; otherwise they wait for a person."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from collector.pricing.approval import push_hook
from collector.pricing.book import PriceBook
from collector.pricing.rules import Proposal, Signals, propose
from collector.pricing.settings import PricingConfig
from collector.pricing.signals import demand_signals, substitute_signals

AUTO = "auto"


@dataclass
class Evaluation:
    store: str
    proposals: list[Proposal] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # sku -> the new price id
    state: str = "pending"

    def summary(self) -> list[dict[str, Any]]:
        return [{"sku": p.product.sku, "price": p.price, "was": p.was, "promo": p.promo, "rules": p.rules,
                 "price_id": self.changed.get(p.product.sku), "state": self.state if p.product.sku in self.changed
                 else "unchanged"} for p in self.proposals]


def _same(row: dict[str, Any] | None, p: Proposal) -> bool:
    return row is not None and math.isclose(float(row["price"]), p.price, abs_tol=1e-9) and row["promo"] == p.promo


def _recommender(collector_config: Any) -> tuple[Any, str | None]:
    from collector.recommend.api import RecommenderModelError, configured_model

    try:
        model = configured_model(collector_config.recommender)
    except RecommenderModelError as exc:
        return None, str(exc)
    return model, None if model is not None else "no fitted recommender (smartstore recommend fit)"


def evaluate_store(store: Any, store_id: str, collector_config: Any, now: float | None = None) -> Evaluation:
    """Evaluate every product of ``store_id``'s price list (``collector_config``: the collector's, for its
    ``pricing`` and ``recommender`` sections)."""
    now = time.time() if now is None else now
    config: PricingConfig = collector_config.pricing
    book = PriceBook(store)
    products = book.products(store_id)
    result = Evaluation(store_id, state="approved" if config.auto_approve else "pending")
    if not products:
        return result
    demand = demand_signals(store, store_id, [p.sku for p in products], config.demand, now)
    model, why = _recommender(collector_config)
    subs = substitute_signals(store, store_id, model, why, config.substitutes_k)
    current, pending = book.current(store_id), {r["sku"]: r for r in book.pending(store_id)}
    for product in products:
        sku = product.sku
        signals = Signals(now, demand.found.get(sku), demand.reason(sku), subs.found.get(sku), subs.default,
                          book.reference(store_id, sku, now))
        proposal = propose(product, signals, config)
        result.proposals.append(proposal)
        if _same(pending.get(sku), proposal):
            continue
        if _same(current.get(sku), proposal):
            if sku in pending:
                book.supersede(pending[sku]["id"], "the rules give the current price again", now)
            continue
        reason = "; ".join(s.reason for s in proposal.steps if s.changed) or "the base price"
        approved_by = AUTO if config.auto_approve else None
        also = push_hook(book, config, store_id, sku, product.label, now) if approved_by else None
        result.changed[sku] = book.add_price(store_id, sku, proposal.price, product.currency, proposal.was,
                                             proposal.promo, proposal.audit(), reason, approved_by, now, also)
    return result
