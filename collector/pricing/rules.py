"""The price rules, in the order they run (``docs/pricing.md``, Rules): demand bounds, markdown by days to expiry,
out-of-stock substitute promotion, maximum change per day, floor and ceiling (the last word, after rounding).

Each rule takes the price so far and returns a :class:`Step`: the price after it and why (also when it changed
nothing, so the audit log says why a rule did not act). Rules are pure: what they read from the forecaster, the
recommender and the price history arrives in :class:`Signals`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from collector.pricing.products import Product
from collector.pricing.settings import PricingConfig

DAY = 86400.0
PROMO_CHARS = 40  # the label's promotion text (contract: set_prices args.labels[].promo)


@dataclass(frozen=True, slots=True)
class Demand:
    """The forecaster's view of one SKU: mean daily sales forecast over the horizon against the last as many days."""

    forecast_per_day: float
    recent_per_day: float
    days: int
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Signals:
    """What the rules know about one product beyond its price-list row."""

    now: float
    demand: Demand | None = None
    demand_missing: str = "demand rule off"  # why there is no demand signal (when ``demand`` is None)
    substitute_for: str | None = None  # the out-of-stock SKU this product stands in for
    substitute_missing: str = "no out-of-stock SKU lists it as a substitute"
    reference: float | None = None  # the price in effect 24 h ago (or the first since): the max-change reference


@dataclass(frozen=True, slots=True)
class Step:
    rule: str
    before: float
    after: float
    reason: str
    promo: str | None = None

    @property
    def changed(self) -> bool:
        return not math.isclose(self.before, self.after, abs_tol=1e-9)


@dataclass
class Proposal:
    """The price the rules give one product, the steps that made it, and what its label shows."""

    product: Product
    price: float
    steps: list[Step] = field(default_factory=list)

    @property
    def was(self) -> float | None:
        """The base price, shown struck through, when the price is below it."""
        return self.product.base if self.price < self.product.base - 1e-9 else None

    @property
    def promo(self) -> str | None:
        """The label's promotion text: that of the last rule that cut the price, while it is below the base."""
        texts = [s.promo for s in self.steps if s.promo and s.changed]
        return texts[-1][:PROMO_CHARS] if texts and self.was is not None else None

    @property
    def rules(self) -> list[str]:
        """The rules that changed the price."""
        return [s.rule for s in self.steps if s.changed]

    def audit(self) -> list[dict[str, Any]]:
        return [{**asdict(s), "changed": s.changed} for s in self.steps]


def _pct(value: float) -> str:
    return f"{value:+.0f}%"


def demand_bounds(price: float, p: Product, s: Signals, c: PricingConfig) -> Step:
    """Move the price with forecast demand (``sensitivity`` x the relative change) inside the bounds
    [base - max_down%, base + max_up%]; no forecast, or a change inside the dead band: unchanged."""
    d, cfg = s.demand, c.demand
    if d is None:
        return Step("demand", price, price, f"no demand bounds: {s.demand_missing}")
    lo, hi = p.base * (1 - cfg.max_down_percent / 100), p.base * (1 + cfg.max_up_percent / 100)
    model = f" ({d.model})" if d.model else ""
    seen = (f"forecast{model} {d.forecast_per_day:.2f}/day for {d.days} days vs {d.recent_per_day:.2f}/day in the "
            f"last {d.days}")
    if d.recent_per_day <= 0:
        if d.forecast_per_day <= 0:
            return Step("demand", price, price, f"{seen}: no demand either way, unchanged")
        return Step("demand", price, hi, f"{seen}: demand from none, at the upper bound {hi:.2f}")
    change = d.forecast_per_day / d.recent_per_day - 1
    if abs(change) * 100 < cfg.dead_band_percent:
        return Step("demand", price, price, f"{seen} ({_pct(100 * change)}, inside +-{cfg.dead_band_percent:g}%): "
                    "unchanged")
    target = p.base * (1 + cfg.sensitivity * change)
    bounded = min(max(target, lo), hi)
    note = "" if math.isclose(bounded, target) else f", bounded to [{lo:.2f}, {hi:.2f}]"
    return Step("demand", price, bounded, f"{seen} ({_pct(100 * change)}): {_pct(100 * (target / p.base - 1))} of "
                f"base{note}")


def markdown(price: float, p: Product, s: Signals, c: PricingConfig) -> Step:
    """The largest markdown whose ``days`` reach the product's expiry, off the base (never raises the price)."""
    if p.expiry is None:
        return Step("markdown", price, price, "no expiry date")
    days = (p.expiry - s.now) / DAY
    due = [m for m in c.markdown if days <= m.days]
    when = datetime.fromtimestamp(p.expiry, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if not due:
        return Step("markdown", price, price, f"expires {when}, in {days:.1f} days: no markdown yet")
    pct = max(m.percent for m in due)
    target = p.base * (1 - pct / 100)
    past = " (past expiry)" if days < 0 else ""
    return Step("markdown", price, min(price, target), f"expires {when}, in {days:.1f} days{past}: -{pct:g}% of base",
                promo=f"-{pct:g}% short date")


def substitute(price: float, p: Product, s: Signals, c: PricingConfig) -> Step:
    """A promotion on a substitute of an out-of-stock SKU (off the base, never raises the price)."""
    if s.substitute_for is None or c.substitute_percent <= 0:
        reason = s.substitute_missing if c.substitute_percent > 0 else "substitute promotion off"
        return Step("substitute", price, price, reason)
    target = p.base * (1 - c.substitute_percent / 100)
    pct = f"-{c.substitute_percent:g}%"
    return Step("substitute", price, min(price, target), f"substitute for out-of-stock {s.substitute_for}: {pct} of "
                "base", promo=f"{pct} instead of {s.substitute_for}")


def max_change(price: float, p: Product, s: Signals, c: PricingConfig) -> Step:
    """At most ``max_change_percent_per_day`` away from the price of 24 hours before (none yet: no limit)."""
    if s.reference is None:
        return Step("max_change", price, price, "first price of this product: no daily limit yet")
    pct = c.max_change_percent_per_day / 100
    lo, hi = s.reference * (1 - pct), s.reference * (1 + pct)
    bounded = min(max(price, lo), hi)
    if math.isclose(bounded, price):
        return Step("max_change", price, price, f"within {c.max_change_percent_per_day:g}% of {s.reference:.2f} "
                    "(24 h before)")
    return Step("max_change", price, bounded, f"limited to {c.max_change_percent_per_day:g}% a day from "
                f"{s.reference:.2f} (24 h before)")


def floor_ceiling(price: float, p: Product, s: Signals, c: PricingConfig) -> Step:
    """Round to ``round_to``, then never below the cost floor nor above the ceiling."""
    rounded = round(round(price / c.round_to) * c.round_to, 6)
    if rounded < p.floor:
        return Step("floor_ceiling", price, p.floor, f"raised to the floor {p.floor:.2f}")
    if p.ceiling is not None and rounded > p.ceiling:
        return Step("floor_ceiling", price, p.ceiling, f"lowered to the ceiling {p.ceiling:.2f}")
    ceiling = f"{p.ceiling:.2f}" if p.ceiling is not None else "none"
    return Step("floor_ceiling", price, rounded, f"rounded to {c.round_to:g}; within floor {p.floor:.2f} and "
                f"ceiling {ceiling}")


RULES = (demand_bounds, markdown, substitute, max_change, floor_ceiling)


def propose(p: Product, s: Signals, c: PricingConfig) -> Proposal:
    """Run every rule in order from the base price."""
    proposal = Proposal(p, p.base)
    for rule in RULES:
        step = rule(proposal.price, p, s, c)
        proposal.steps.append(step)
        proposal.price = step.after
    return proposal
