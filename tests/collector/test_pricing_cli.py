"""``smartstore pricing import|evaluate|pending|approve|reject|history`` from the command line: the whole flow on
a SQLite store, and mistakes as one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.collector.test_cli import smartstore

PRICES = ("sku,name,base,floor,ceiling,expiry,label\n"
          "milk,Milk 1l,2.00,1.20,2.50,2026-12-03,0000021EC9EC743A\n"
          "bread,Bread,3.00,2.50,,,\n")


def test_import_evaluate_approve_history(tmp_path: Path) -> None:
    csv, db = tmp_path / "prices.csv", str(tmp_path / "c.db")
    csv.write_text(PRICES)
    config = tmp_path / "collector.yaml"
    config.write_text(f"store: {db}\nrecommender: {{model: null}}\npricing: {{demand: {{enabled: false}}}}\n")
    done = smartstore("pricing", "import", str(csv), "--store", "s1", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{csv}: 2 products imported into the price list of s1"
    evaluated = smartstore("pricing", "evaluate", "--store", "s1", "--at", "2026-12-02T12:00:00Z", "--json",
                           "--config", str(config))
    assert evaluated.returncode == 0, evaluated.stderr
    rows = {r["sku"]: r for r in json.loads(evaluated.stdout)}
    assert rows["milk"]["price"] == 1.6 and rows["milk"]["rules"] == ["markdown"]  # 1.5 days left: -20%
    assert rows["bread"]["price"] == 3.0 and rows["bread"]["state"] == "pending"
    pending = json.loads(smartstore("pricing", "pending", "--json", "--config", str(config)).stdout)
    assert {p["id"] for p in pending} == {rows["milk"]["price_id"], rows["bread"]["price_id"]}
    approved = smartstore("pricing", "approve", rows["milk"]["price_id"], "--by", "carol", "--reason", "ok",
                          "--config", str(config))
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"{rows['milk']['price_id']} s1 milk 1.60: approved by carol"
    twice = smartstore("pricing", "reject", rows["milk"]["price_id"], "--config", str(config))
    assert twice.returncode == 2 and twice.stderr.strip() == (f"smartstore: error: price {rows['milk']['price_id']} "
                                                              "is approved, not pending")
    repushed = smartstore("pricing", "repush", "milk", "--store", "s1", "--config", str(config))
    assert repushed.returncode == 2 and repushed.stderr.strip() == (
        f"smartstore: error: price {rows['milk']['price_id']} was never pushed (no label gateway or no label): nothing"
        " to re-push")
    history = smartstore("pricing", "history", "milk", "--store", "s1", "--config", str(config))
    assert history.returncode == 0, history.stderr
    text = history.stdout
    assert "1.60 EUR  approved" in text and "proposed" in text and "-20% of base" in text
    assert "carol" in text and "no label gateway for store s1 (pricing.gateways)" in text


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "prices.csv"
    bad.write_text("sku,base,floor\nmilk,2.00,cheap\n")
    db = str(tmp_path / "c.db")
    done = smartstore("pricing", "import", str(bad), "--store", "s1", "--db", db)
    assert done.returncode == 2 and done.stderr.strip() == f"smartstore: error: {bad}:2: floor 'cheap' is not a number"
    unknown = smartstore("pricing", "history", "caviar", "--store", "s1", "--db", db)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "smartstore: error: no SKU 'caviar' in the price list of store 's1'"
    at = smartstore("pricing", "evaluate", "--store", "s1", "--at", "yesterday", "--db", db)
    assert at.returncode == 2 and at.stderr.strip() == "smartstore: error: --at 'yesterday': not an ISO 8601 time"
