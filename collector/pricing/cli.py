"""``smartstore pricing import|evaluate|pending|approve|reject|repush|history``: parsing only; the work is in the
package (``docs/pricing.md``). Every command takes the collector's ``--config``, ``--db`` and ``--schema``."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from smartstore import Subparsers, UserError, add_command, command_group


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _actor(args: argparse.Namespace) -> str:
    return str(args.by or os.environ.get("USER") or "cli")


def _import(args: argparse.Namespace) -> int:
    from collector.cli import _collector_config, opened_store
    from collector.pricing.book import PriceBook
    from collector.pricing.products import read_price_list

    config = _collector_config(args)
    products = list(read_price_list(args.csv, args.store, config.pricing.currency))
    with opened_store(args) as store:
        PriceBook(store).upsert_products(products)
    stores = sorted({p.store for p in products})
    print(f"{args.csv}: {len(products)} products imported into the price list of {', '.join(stores) or 'no store'}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from collector.cli import _collector_config, opened_store
    from collector.pricing.evaluate import evaluate_store

    config = _collector_config(args)
    now = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(f"--at {args.at!r}: not an ISO 8601 time") from None
        now = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    with opened_store(args) as store:
        result = evaluate_store(store, args.store, config, now)
    rows = result.summary()
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(f"{r['sku']:24} {r['price']:>10.2f}  {r['state']:10} {r['price_id'] or '-':32}  "
              f"{', '.join(r['rules']) or 'base'}")
    changed = sum(1 for r in rows if r["price_id"])
    print(f"store {args.store}: {len(rows)} products, {changed} new price(s) {result.state}")
    return 0


def _pending(args: argparse.Namespace) -> int:
    from collector.cli import opened_store
    from collector.pricing.book import PriceBook

    with opened_store(args) as store:
        rows = PriceBook(store).pending(args.store)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'id':32}  {'store':12} {'sku':24} {'price':>10}  {'promo':24} created")
    for r in rows:
        print(f"{r['id']:32}  {r['store']:12} {r['sku']:24} {r['price']:>10.2f}  {r['promo'] or '-':24} "
              f"{_when(r['created'])}")
    return 0


def _decide(args: argparse.Namespace, approving: bool) -> int:
    from collector.cli import _collector_config, opened_store
    from collector.pricing.approval import approve, reject
    from collector.pricing.book import PriceBook

    config = _collector_config(args)
    with opened_store(args) as store:
        book = PriceBook(store)
        for price_id in args.id:
            if approving:
                row = approve(book, config.pricing, price_id, _actor(args), args.reason or "approved")
            else:
                row = reject(book, price_id, _actor(args), args.reason or "rejected")
            print(f"{row['id']} {row['store']} {row['sku']} {row['price']:.2f}: {row['state']} by {row['decided_by']}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    return _decide(args, True)


def _reject(args: argparse.Namespace) -> int:
    return _decide(args, False)


def _repush(args: argparse.Namespace) -> int:
    from collector.cli import _collector_config, opened_store
    from collector.pricing.approval import repush
    from collector.pricing.book import PriceBook

    config = _collector_config(args)
    with opened_store(args) as store:
        row = repush(PriceBook(store), config.pricing, args.store, args.sku, _actor(args))
    print(f"{row['id']} {row['store']} {row['sku']} {row['price']:.2f}: approved by {row['decided_by']}, pushed again")
    return 0


def _history(args: argparse.Namespace) -> int:
    from collector.cli import opened_store
    from collector.pricing.book import PriceBook
    from collector.pricing.pushes import PushQueue

    with opened_store(args) as store:
        book = PriceBook(store)
        if book.product(args.store, args.sku) is None:
            raise UserError(f"no SKU {args.sku!r} in the price list of store {args.store!r}")
        prices, audit = book.prices(args.store, args.sku), book.audit_log(args.store, args.sku)
        pushes = {p["price_id"]: p for p in PushQueue(book).pushes(args.store, args.sku)}
    if args.json:
        print(json.dumps({"prices": prices, "audit": audit, "pushes": list(pushes.values())}))
        return 0
    for r in prices:
        push = pushes.get(r["id"])
        print(f"{_when(r['created'])}  {r['price']:>10.2f} {r['currency']}  {r['state']:10} {r['id']}  label: "
              f"{push['state'] if push else '-'}")
        for a in (a for a in audit if a["price_id"] == r["id"]):
            print(f"    {_when(a['ts'])}  {a['action']:12} {a['actor']:16} {a['reason']}")
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    from collector.cli import _store_options as options

    options(parser)


def register(subparsers: Subparsers) -> None:
    """The ``pricing`` group."""
    group = command_group(subparsers, "pricing", "dynamic prices: price list, rules, approval, label pushes")
    imp = add_command(group, "import", "import a price list CSV (sku, base, floor[, ceiling, expiry, name, "
                      "currency, label, store])", _import)
    imp.add_argument("csv", type=Path, help="the price list")
    imp.add_argument("--store", help="store id for a file without a store column")
    ev = add_command(group, "evaluate", "run the price rules over a store's price list (new prices wait for "
                     "approval unless pricing.auto_approve)", _evaluate)
    ev.add_argument("--store", required=True, help="store id")
    ev.add_argument("--at", help="evaluate as of this ISO 8601 time (default now)")
    ev.add_argument("--json", action="store_true", help="JSON instead of a table")
    pend = add_command(group, "pending", "prices waiting for approval", _pending)
    pend.add_argument("--store", help="only this store")
    pend.add_argument("--json", action="store_true", help="JSON instead of a table")
    for name, handler in (("approve", _approve), ("reject", _reject)):
        cmd = add_command(group, name, f"{name} pending prices by id (smartstore pricing pending)", handler)
        cmd.add_argument("id", nargs="+", help="price id(s)")
        cmd.add_argument("--by", help="who decides (default $USER), kept in the audit log")
        cmd.add_argument("--reason", help="why, kept in the audit log")
        _store_options(cmd)
    again = add_command(group, "repush", "push a SKU's current price again after its push failed (a new price id)",
                        _repush)
    again.add_argument("sku", help="the SKU")
    again.add_argument("--store", required=True, help="store id")
    again.add_argument("--by", help="who asks (default $USER), kept in the audit log")
    hist = add_command(group, "history", "a product's prices with their audit log and label pushes", _history)
    hist.add_argument("sku", help="the SKU")
    hist.add_argument("--store", required=True, help="store id")
    hist.add_argument("--json", action="store_true", help="JSON instead of text")
    for parser in (imp, ev, pend, again, hist):
        _store_options(parser)
