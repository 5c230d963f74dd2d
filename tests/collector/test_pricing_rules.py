"""Every price rule on its own and in order (pure functions: no store): demand bounds, markdown by expiry,
substitute promotion, max change per day, floor and ceiling, and what the audit keeps of each step."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.pricing.products import PriceListError, Product, read_price_list
from collector.pricing.rules import DAY, Demand, Signals, propose
from collector.pricing.settings import PricingConfig

NOW = 1_800_000_000.0
CFG = PricingConfig.model_validate({})


def product(**kw: object) -> Product:
    fields: dict[str, object] = {"store": "s1", "sku": "milk", "base": 2.0, "floor": 1.2, "currency": "EUR",
                                 "ceiling": 2.5, "expiry": None}
    fields.update(kw)
    return Product(**fields)  # type: ignore[arg-type]


def steps(p: Product, s: Signals, c: PricingConfig = CFG) -> dict[str, tuple[float, str]]:
    return {st.rule: (st.after, st.reason) for st in propose(p, s, c).steps}


def test_rules_run_in_the_documented_order_and_explain_themselves() -> None:
    proposal = propose(product(), Signals(NOW), CFG)
    assert [s.rule for s in proposal.steps] == ["demand", "markdown", "substitute", "max_change", "floor_ceiling"]
    assert proposal.price == 2.0 and proposal.was is None and proposal.promo is None and proposal.rules == []
    reasons = {s.rule: s.reason for s in proposal.steps}
    assert reasons["demand"] == "no demand bounds: demand rule off"
    assert reasons["markdown"] == "no expiry date"
    assert reasons["max_change"].startswith("first price")


@pytest.mark.parametrize(("days_left", "price", "promo"), [(10, 2.0, None), (3.0, 1.6, "-20% short date"),
                                                           (2.5, 1.6, "-20% short date"),
                                                           (0.5, 1.2, "-50% short date"),  # 1.0, raised to floor
                                                           (-1, 1.2, "-50% short date")])
def test_markdown_by_days_to_expiry(days_left: float, price: float, promo: str | None) -> None:
    p = product(expiry=NOW + days_left * DAY)
    proposal = propose(p, Signals(NOW), CFG)
    assert math.isclose(proposal.price, price)
    assert proposal.promo == promo
    if days_left < 0:
        assert "past expiry" in steps(p, Signals(NOW))["markdown"][1]
    if days_left == 0.5:  # the markdown gave 1.00, the floor (cost) has the last word
        assert steps(p, Signals(NOW))["markdown"][0] == 1.0 and proposal.rules == ["markdown", "floor_ceiling"]


def test_demand_bounds_move_the_price_within_the_band() -> None:
    p = product(ceiling=None)
    up = Signals(NOW, Demand(12.0, 10.0, 7))  # +20% demand, sensitivity 0.5: +10%, at the upper bound
    assert math.isclose(propose(p, up, CFG).price, 2.2)
    surge = Signals(NOW, Demand(30.0, 10.0, 7))  # +200%: +100% wanted, bounded to +10%
    after, reason = steps(p, surge)["demand"]
    assert math.isclose(after, 2.2) and "bounded to [1.80, 2.20]" in reason
    down = Signals(NOW, Demand(8.0, 10.0, 7))  # -20%: -10%
    assert math.isclose(propose(p, down, CFG).price, 1.8)
    flat = Signals(NOW, Demand(10.3, 10.0, 7))  # +3%: inside the 5% dead band
    assert propose(p, flat, CFG).price == 2.0 and "inside" in steps(p, flat)["demand"][1]
    new = Signals(NOW, Demand(4.0, 0.0, 7))  # demand where there was none: the upper bound
    assert math.isclose(propose(p, new, CFG).price, 2.2)
    gone = Signals(NOW, None, "no forecast: too little history")
    assert propose(p, gone, CFG).price == 2.0
    assert steps(p, gone)["demand"][1] == "no demand bounds: no forecast: too little history"


def test_expiry_markdown_wins_over_high_demand() -> None:
    p = product(ceiling=None, expiry=NOW + 0.8 * DAY)
    proposal = propose(p, Signals(NOW, Demand(30.0, 10.0, 7)), CFG)
    assert math.isclose(proposal.price, 1.2)  # -50% = 1.00 -> the floor
    assert proposal.rules == ["demand", "markdown", "floor_ceiling"]


def test_substitute_promotion() -> None:
    p = product(sku="oat-milk", base=3.0, floor=2.0, ceiling=None)
    proposal = propose(p, Signals(NOW, substitute_for="milk"), CFG)
    assert math.isclose(proposal.price, 2.7) and proposal.promo == "-10% instead of milk" and proposal.was == 3.0
    off = PricingConfig.model_validate({"substitute_percent": 0})
    assert propose(p, Signals(NOW, substitute_for="milk"), off).price == 3.0
    assert propose(p, Signals(NOW, substitute_missing="nothing out of stock"), CFG).price == 3.0
    deeper = propose(product(base=3.0, floor=0.5, ceiling=None, expiry=NOW + 0.5 * DAY),
                     Signals(NOW, substitute_for="milk"), CFG)
    assert math.isclose(deeper.price, 1.5) and deeper.promo == "-50% short date"  # the larger cut stays


def test_max_change_per_day_against_the_price_of_24_hours_before() -> None:
    p = product(floor=0.5, expiry=NOW + 0.5 * DAY)  # wants 1.00
    limited = propose(p, Signals(NOW, reference=2.0), CFG)
    assert math.isclose(limited.price, 1.4) and "max_change" in limited.rules  # 2.00 - 30%
    assert "limited to 30% a day from 2.00" in steps(p, Signals(NOW, reference=2.0))["max_change"][1]
    up = propose(product(ceiling=None), Signals(NOW, reference=1.0), CFG)
    assert math.isclose(up.price, 1.3)  # back to base 2.00 only 30% a day
    within = propose(product(), Signals(NOW, reference=2.1), CFG)
    assert within.price == 2.0 and within.rules == []


def test_floor_and_ceiling_are_the_last_word() -> None:
    above = propose(product(base=3.0, ceiling=2.5), Signals(NOW), CFG)
    assert above.price == 2.5 and above.rules == ["floor_ceiling"]
    # max change would keep 4.00 * 0.7 = 2.80 from a reference above the ceiling: the ceiling still wins
    assert propose(product(base=3.0, ceiling=2.5), Signals(NOW, reference=4.0), CFG).price == 2.5
    below = propose(product(floor=1.9, expiry=NOW), Signals(NOW, reference=1.0), CFG)
    assert below.price == 1.9
    odd = propose(product(base=1.999, floor=0.0, ceiling=None), Signals(NOW), CFG)
    assert odd.price == 2.0  # rounded to round_to (0.01)


def test_audit_keeps_every_step() -> None:
    audit = propose(product(expiry=NOW + 2 * DAY), Signals(NOW, reference=2.0), CFG).audit()
    assert [a["rule"] for a in audit] == ["demand", "markdown", "substitute", "max_change", "floor_ceiling"]
    markdown = audit[1]
    assert markdown["changed"] is True and markdown["before"] == 2.0 and math.isclose(float(markdown["after"]), 1.6)
    assert "-20% of base" in str(markdown["reason"]) and markdown["promo"] == "-20% short date"
    assert all(a["changed"] is False for a in audit if a["rule"] != "markdown")


def test_price_list_csv(tmp_path: Path) -> None:
    good = tmp_path / "prices.csv"
    good.write_text("sku,name,base,floor,ceiling,expiry,label,currency\n"
                    "milk,Milk,2.00,1.20,2.50,2026-12-03,0000021EC9EC743A,\n"
                    "bread,Bread,3,2.5,,,,GBP\n")
    rows = list(read_price_list(good, "s1"))
    assert [r.sku for r in rows] == ["milk", "bread"]
    assert rows[0].expiry == datetime(2026, 12, 4, tzinfo=UTC).timestamp()  # the end of 2026-12-03, UTC
    assert rows[1].ceiling is None and rows[1].currency == "GBP" and rows[1].label is None and rows[0].currency == "EUR"
    cases = {
        "sku,base\nmilk,2\n": "missing column(s) floor",
        "sku,base,floor,colour\nmilk,2,1,red\n": "unknown column(s) colour",
        "sku,base,floor\nmilk,two,1\n": ":2: base 'two' is not a number",
        "sku,base,floor,ceiling\nmilk,2,1.5,1\n": ":2: ceiling '1' is below floor '1.5'",
        "sku,base,floor,expiry\nmilk,2,1,soon\n": ":2: expiry 'soon' is not a date",
        "sku,base,floor,label\nmilk,2,1,a b\n": ":2: label 'a b' is not a tag id",
        "sku,base,floor,currency\nmilk,2,1,euro\n": "currency 'euro' is not an ISO 4217 code",
        "sku,base,floor\nmilk,0,0\n": "base '0' must be above 0",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(PriceListError, match=None) as err:
            list(read_price_list(bad, "s1"))
        assert message in str(err.value) and "\n" not in str(err.value), (text, str(err.value))
    with pytest.raises(PriceListError, match="store None is not a store id"):
        list(read_price_list(good))
    with pytest.raises(PriceListError, match="cannot read"):
        list(read_price_list(tmp_path / "absent.csv", "s1"))
