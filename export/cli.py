"""``smartstore`` subcommands of the ``export`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from errors import SmartstoreError
from smartstore import Subparsers, UserError, add_command, command_group


def _models_build(args: argparse.Namespace) -> int:
    from export.build import BUILDERS, build

    if args.all == bool(args.names):
        raise UserError("give model names or --all")
    names = sorted(BUILDERS) if args.all else args.names
    unknown = [name for name in names if name not in BUILDERS]
    if unknown:
        raise UserError(f"no builder for {', '.join(unknown)} (known: {', '.join(sorted(BUILDERS))})")
    for name in names:
        try:
            manifest, built = build(name, force=args.force, repin=args.repin, engines=args.engines)
        except SmartstoreError as exc:  # a BuildError or ModelError: name the model it is about
            raise UserError(f"{name}: {exc}") from None
        files = ", ".join(f"{e}/{p}" for e, p in manifest.variants() if args.engines is None or e in args.engines)
        print(f"{name}: {'built' if built else 'up to date'} ({files})", flush=True)
    return 0


def _register_models_build(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "models", "model manifests: list, verify, build")
    build = add_command(group, "build", "build models from their pinned sources (skipped when up to date)",
                        _models_build)
    build.add_argument("names", nargs="*", help="models to build")
    build.add_argument("--all", action="store_true", help="every model with a builder")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.add_argument("--engines", type=lambda v: [e for e in v.split(",") if e], default=None,
                       metavar="E1,E2", help="only these engines' files, where the model's builder can (make demo: "
                       "openvino, which needs no torch)")
    build.add_argument("--repin", action="store_true",
                       help="write the new sha256s into a committed (pinned) manifest instead of failing on a change")


def _exporting(fn: Callable[..., list[str]], *args: object) -> int:
    """Run an export workflow (its ``ExportError`` is a ``SmartstoreError``: one line, exit 2)."""
    lines = fn(*args)
    print("\n".join(lines), flush=True)
    return 0


def _calib_paths(values: list[str] | None) -> list[Path]:
    return [Path(v) for value in values or [] for v in value.split(",") if v]


def _export_yolo(args: argparse.Namespace) -> int:
    from export import run

    if "int8" in args.precision and not args.calib:
        raise UserError("INT8 needs calibration images: give --calib FOLDER|VIDEO (or --precision fp32,fp16)")
    return _exporting(run.export_yolo, args.source, Path(args.out), args.formats, args.precision,
                      _calib_paths(args.calib), Path(args.val) if args.val else None, args.imgsz, args.calib_count,
                      args.val_limit)


def _export_embedder(args: argparse.Namespace) -> int:
    from export import run

    if "int8" in args.precision and not args.calib:
        raise UserError("INT8 needs calibration images: give --calib FOLDER (or --precision fp32)")
    return _exporting(run.export_embedder, args.name, Path(args.out or f"models/{args.name}"), args.formats,
                      args.precision, _calib_paths(args.calib), args.calib_count)


def _export_train(args: argparse.Namespace) -> int:
    from export import run

    return _exporting(run.train_and_export, Path(args.data), args.model, Path(args.out), Path(args.runs),
                      args.epochs, args.imgsz, args.batch, args.hours, args.formats, args.precision,
                      _calib_paths(args.calib), args.calib_count)


def _models_pull(args: argparse.Namespace) -> int:
    from edge.models import models_dir
    from export import run

    return _exporting(run.pull, args.name, Path(args.root) if args.root else models_dir())


def _format_options(parser: argparse.ArgumentParser, calib_count: int) -> None:
    parser.add_argument("--formats", default="onnx,openvino,litert", help="comma list of onnx, openvino, litert")
    parser.add_argument("--precision", default="fp32,int8", help="comma list of fp32, fp16, int8")
    parser.add_argument("--calib", action="append", metavar="PATH",
                        help="calibration images: folder, image or video (repeat or comma-separate)")
    parser.add_argument("--calib-count", type=int, default=calib_count, help="calibration images to use")


def _register_export(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "export", "build-time model export: ONNX, OpenVINO IR, LiteRT at FP32/FP16/INT8")
    yolo = add_command(group, "yolo", "export an ultralytics YOLO (weights or .yaml) with the INT8 accuracy gate",
                       _export_yolo)
    yolo.add_argument("source", help="WEIGHTS.pt or MODEL.yaml (e.g. yolo11n.yaml: random init)")
    yolo.add_argument("--out", required=True, help="model folder, e.g. models/NAME (files under build/)")
    yolo.add_argument("--imgsz", type=int, default=640, help="square input size")
    yolo.add_argument("--val", help="YOLO dataset YAML: validate every file (mAP50, mAP50-95) and gate INT8")
    yolo.add_argument("--val-limit", type=int, help="validate on the first N val images only")
    _format_options(yolo, 64)
    emb = add_command(group, "embedder", "export a product embedder (global-pooled, L2-normalised features)",
                      _export_embedder)
    emb.add_argument("name", help="embedder name (efficientnet-lite0)")
    emb.add_argument("--out", help="model folder (default models/NAME)")
    _format_options(emb, 100)
    train = add_command(group, "train", "train a YOLO on a YOLO-format dataset (offline, CPU), then export and gate it",
                        _export_train)
    train.add_argument("--data", required=True, help="dataset YAML (path, train, val, names)")
    train.add_argument("--model", default="yolo11n.yaml", help="MODEL.yaml (from scratch) or WEIGHTS.pt (fine-tune)")
    train.add_argument("--out", required=True, help="model folder for the export, e.g. models/NAME")
    train.add_argument("--runs", default="build/train", help="where training runs go")
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--imgsz", type=int, default=640)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--hours", type=float, help="wall-time cap for training")
    _format_options(train, 64)


def _register_models_pull(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "models", "model manifests: list, verify, build")
    pull = add_command(group, "pull", "download official weights from their publishers (pinned digest, resumable)",
                       _models_pull)
    pull.add_argument("name", help="release name (yolo11n-coco, person-detection-retail-0013)")
    pull.add_argument("--root", help="models folder (default: $SMARTSTORE_MODELS or the repository's models/)")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_models_build, _register_export,
                                                        _register_models_pull)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
