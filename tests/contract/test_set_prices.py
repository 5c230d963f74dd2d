"""The ``set_prices`` command and its per-label reply: built, parsed and refused by the contract's schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.commands import (
    COMMANDS,
    Command,
    ContractError,
    LabelPrice,
    LabelResult,
    Reply,
    check,
    label_prices,
    label_results,
    set_prices_command,
)
from contract.events import load_schema

PRICE = LabelPrice("p-1", "SKU-1", "0000021EDE0F3B1C", 2.49, "EUR", was=2.99, promo="-17%")


def test_set_prices_round_trip() -> None:
    assert "set_prices" in COMMANDS
    assert load_schema("command")["properties"]["command"]["enum"] == list(COMMANDS)
    command = set_prices_command("s1", "d1", [PRICE, LabelPrice("p-2", "SKU-2", "tag7", 10, "USD")])
    assert label_prices(Command.parse(command.to_json())) == [PRICE, LabelPrice("p-2", "SKU-2", "tag7", 10, "USD")]


def _with(**changes: Any) -> bytes:
    item = dict(PRICE.to_dict(), **changes)
    return Command("set_prices", "s1", "d1", {"labels": [item]}).to_json()


@pytest.mark.parametrize(("changes", "where"), [
    ({"currency": "eur"}, "labels/0/currency"),
    ({"currency": "EURO"}, "labels/0/currency"),
    ({"price": -1}, "labels/0/price"),
    ({"price": "2.49"}, "labels/0/price"),
    ({"label": "../x"}, "labels/0/label"),
    ({"price_id": "a b"}, "labels/0/price_id"),
    ({"promo": "x" * 41}, "labels/0/promo"),
    ({"colour": "red"}, "labels/0"),
])
def test_bad_prices_are_refused_naming_the_field(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ContractError, match=where):
        Command.parse(_with(**changes))


def test_label_count_bounds_and_required_labels() -> None:
    with pytest.raises(ContractError, match="args"):
        Command.parse(Command("set_prices", "s1", "d1", {}).to_json())
    with pytest.raises(ContractError, match="labels"):
        Command.parse(Command("set_prices", "s1", "d1", {"labels": []}).to_json())
    many = [dict(PRICE.to_dict(), price_id=f"p{i}") for i in range(501)]
    with pytest.raises(ContractError, match="labels"):
        Command.parse(Command("set_prices", "s1", "d1", {"labels": many}).to_json())
    assert len(label_prices(Command.parse(Command("set_prices", "s1", "d1", {"labels": many[:500]}).to_json()))) == 500


def test_reply_carries_one_result_per_price() -> None:
    results = [LabelResult("p-1", "applied"), LabelResult("p-2", "failed", "tag7: NAK 3 E_TAG_OFFLINE")]
    reply = Reply("ab" * 16, "set_prices", "s1", "d1", "failed", "1 of 2 labels failed",
                  {"labels": [r.to_dict() for r in results]})
    assert label_results(Reply.parse(reply.to_json())) == results
    bad = json.loads(reply.to_json())
    bad["detail"]["labels"][0]["state"] = "pending"
    with pytest.raises(ContractError, match="detail/labels/0/state"):
        check(bad, "reply")
    assert label_results(Reply("ab" * 16, "set_prices", "s1", "d1", "accepted")) == []
