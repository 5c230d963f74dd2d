"""``smartstore sentiment fit|score|import``: parsing only; handlers call :mod:`collector.sentiment.service`."""

from __future__ import annotations

import argparse
from pathlib import Path

from smartstore import Subparsers, UserError, add_command, command_group


def _score(args: argparse.Namespace) -> int:
    from collector.sentiment.service import score_file

    print(score_file(args.csv, args.out, args.lang, args.method, args.models))
    return 0


def _fit(args: argparse.Namespace) -> int:
    from collector.sentiment.service import fit_file

    print(fit_file(args.data, args.lang, args.out, holdout=args.holdout))
    return 0


def _import(args: argparse.Namespace) -> int:
    from collector.cli import opened_store
    from collector.sentiment.service import import_file, read_reviews

    if not args.store:
        raise UserError("--store is required: the store the reviews belong to")
    read_reviews(args.csv, args.store)  # a bad file is one line before the store is opened
    with opened_store(args) as store:
        print(import_file(args.csv, args.store, store))
    return 0


def register(subparsers: Subparsers) -> None:
    from collector.cli import _store_options  # registered from collector.cli, which is loaded by now

    group = command_group(subparsers, "sentiment", "customer-review sentiment: score files, fit models, import")
    score = add_command(group, "score", "score a CSV of reviews id,text into id,label,score (P positive)", _score)
    score.add_argument("csv", type=Path, help="CSV with columns id,text")
    score.add_argument("--out", type=Path, required=True, help="CSV to write: id,label,score")
    score.add_argument("--lang", choices=("en", "zh"), help="language of every row (default: detected per row)")
    score.add_argument("--method", choices=("learned", "lexicon"), default="learned",
                       help="learned model (default) or lexicon (VADER / the Chinese lexicon)")
    score.add_argument("--models", type=Path, help="folder with en.npz/zh.npz (default: the shipped models)")
    fit = add_command(group, "fit", "fit a learned model on labelled reviews", _fit)
    fit.add_argument("--data", type=Path, required=True,
                     help="CSV with text,label[,cat] (or the clothing/online-shopping review layouts); a cat "
                     "(product category) on every row makes a category-aware model")
    fit.add_argument("--lang", choices=("en", "zh"), required=True)
    fit.add_argument("--out", type=Path, required=True, help="model file to write (.npz)")
    fit.add_argument("--holdout", action="store_true",
                     help="leave the validation split out and report balanced accuracy on it")
    imp = add_command(group, "import", "score and store a CSV of reviews id,sku,text[,rating,ts,lang]", _import)
    imp.add_argument("csv", type=Path)
    imp.add_argument("--store", help="store id the reviews belong to")
    _store_options(imp)
