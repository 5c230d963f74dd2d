"""``smartstore`` subcommands of the ``edge`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import bundle_cli, shelf_cli
from smartstore import Subparsers, add_command, command_group

if TYPE_CHECKING:
    from edge.vision.tiling import Tiling


def _edge_run(args: argparse.Namespace) -> int:
    from edge.service import run_service

    return run_service(args.config)


def _edge_check(args: argparse.Namespace) -> int:
    from edge.check import check

    return 0 if check(args.config, broker_timeout=args.broker_timeout) else 1


def _register_edge(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "edge", "the edge service: cameras -> people counting -> events -> MQTT")
    run = add_command(group, "run", "run the edge service (JSON logs on stdout; SIGTERM stops, SIGHUP reloads "
                      "lines/zones)", _edge_run)
    run.add_argument("--config", type=Path, required=True, help="edge YAML config (see edge/examples/edge.yaml)")
    check = add_command(group, "check", "validate the config, open the cameras, load the model, reach the broker",
                        _edge_check)
    check.add_argument("--config", type=Path, required=True, help="edge YAML config")
    check.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker")


ENGINE_HELP = "auto | openvino | onnxruntime | litert (default: auto, the file `engine: auto` picks for this box)"


def _models_list(args: argparse.Namespace) -> int:
    import json

    from edge.models import Manifest, available, describe_file, models_dir

    rows: list[dict[str, Any]] = []
    for name in available():
        manifest = Manifest.load(name)
        rows.extend(describe_file(manifest, item) for item in manifest.files)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"models in {models_dir()}:")
    for row in rows:
        size = f"{row['size_mb']:.1f} MB" if row["present"] else "not built"
        needs = f"  (CPU needs {', '.join(row['cpu_isa']).upper()})" if row["cpu_isa"] else ""
        print(f"  {row['model']:<18} {row['engine']:<12} {row['precision']:<5} {size:>10}  {row['path']}{needs}")
    return 0


def _models_verify(args: argparse.Namespace) -> int:
    from edge.models import Manifest, available

    manifests = [Manifest.load(name) for name in (args.names or available())]
    failed = 0
    for manifest in manifests:
        for item, error in manifest.verify():
            failed += error is not None
            print(f"{'FAIL' if error else 'ok  '} {manifest.name} {item.engine}/{item.precision}"
                  f"{': ' + error if error else ''}")
    return 1 if failed else 0


def _register_models(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "models", "model manifests: list, verify, build")
    listing = add_command(group, "list", "list the models under models/ and their files", _models_list)
    listing.add_argument("--json", action="store_true", help="print JSON")
    verify = add_command(group, "verify", "check every model file against the sha256 in its manifest", _models_verify)
    verify.add_argument("names", nargs="*", help="models to verify (default: all)")


def add_model_options(parser: argparse.ArgumentParser, default_model: str) -> None:
    parser.add_argument("--model", default=default_model, help=f"model name, folder or model.yaml "
                        f"(default: {default_model})")
    parser.add_argument("--engine", default="auto", help=ENGINE_HELP)
    parser.add_argument("--device", default=None, help="CPU | GPU | NPU | AUTO (default: engine auto's, else CPU)")


def _detect(args: argparse.Namespace) -> int:
    import json

    from edge.detect import detect_paths
    from edge.detector import Detector

    detector = Detector.from_manifest(args.model, engine=args.engine, precision=args.precision,
                                      device=args.device, conf=args.conf,
                                      tiling=args.tiles)
    for record in detect_paths(detector, args.inputs, args.max_frames, args.annotate):
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            found = ", ".join(f"{d['label']} {d['score']:.2f}" for d in record["detections"]) or "nothing"
            print(f"{record['source']}#{record['frame']}: {found}", flush=True)
    return 0


def tiles_arg(value: str) -> Tiling:
    """``--tiles COLSxROWS`` (an argparse type)."""
    from edge.vision.tiling import Tiling

    cols, _, rows = value.partition("x")
    if not (cols.isdigit() and rows.isdigit() and int(cols) > 0 and int(rows) > 0):
        raise argparse.ArgumentTypeError(f"expected COLSxROWS such as 2x2, got {value!r}")
    return Tiling(cols=int(cols), rows=int(rows))


def _register_detect(subparsers: Subparsers) -> None:
    detect = add_command(subparsers, "detect", "detect objects in images or videos (one JSON object per image or "
                         "frame with --json)", _detect)
    detect.add_argument("inputs", nargs="+", type=Path, metavar="IMAGE_OR_VIDEO")
    add_model_options(detect, "person-ssdlite")
    detect.add_argument("--precision", default=None, help="fp32 | fp16 | int8 (default: the fastest file this "
                        "CPU runs exactly)")
    detect.add_argument("--conf", type=float, default=0.25, help="minimum score (default 0.25)")
    detect.add_argument("--tiles", type=tiles_arg, default=None, metavar="COLSxROWS",
                        help="tiled inference: overlapping tiles plus the whole frame, merged by NMS (e.g. 2x2)")
    detect.add_argument("--max-frames", type=int, default=None, help="stop each video after this many frames")
    detect.add_argument("--annotate", type=Path, default=None, metavar="VIDEO.mp4", help="also write frames with "
                        "boxes drawn to this video")
    detect.add_argument("--json", action="store_true", help="one JSON object per line")


def _track(args: argparse.Namespace) -> int:
    import json

    from edge.track import TrackOutputs, counting_config, open_detector, track_video

    if args.suggest:
        from edge.suggest import suggest_command

        return suggest_command(args)
    config = counting_config(args.line, args.zone, args.queue)
    detector = open_detector(args.model, args.engine, args.precision, args.device, config.tracker.low_thresh,
                             args.tiles)
    outputs = TrackOutputs(mot=args.mot, video=args.save_video, blur=args.blur)
    summary = track_video(detector, Path(args.video), config, outputs, max_frames=args.max_frames)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['frames']} frames at {summary['fps']} frames/s")
        for name, c in summary["lines"].items():
            print(f"line {name}: in {c['in']} out {c['out']}")
        for name, z in summary["zones"].items():
            print(f"zone {name}: max occupancy {z['max_occupancy']}, visits {z['visits']}, "
                  f"mean dwell {z['mean_dwell_s']} s")
    return 0


def _register_track(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "track", "track and count people in a video: lines (in/out), zones (occupancy, "
                    "dwell), queues; MOTChallenge output", _track)
    p.add_argument("video", help="video file (or, with --suggest, a camera URL or device)")
    p.add_argument("--model", default="person-ssdlite", help="model name under models/ (default: person-ssdlite)")
    p.add_argument("--engine", default="auto", help=ENGINE_HELP)
    p.add_argument("--precision", default=None, help="fp32 | fp16 | int8 (default: the fastest file this CPU runs "
                   "exactly)")
    p.add_argument("--device", default=None, help="engine device, e.g. CPU, GPU, NPU")
    p.add_argument("--line", action="append", default=[], metavar="[NAME=]x0,y0,x1,y1[,...]",
                   help="counting line in pixels, drawn so that 'in' is to its right on screen (repeatable)")
    p.add_argument("--zone", action="append", default=[], metavar="[NAME=]x,y;x,y;x,y[;...]",
                   help="zone polygon in pixels (repeatable)")
    p.add_argument("--queue", action="append", default=[], metavar="[NAME=]x,y;x,y;x,y[;...]",
                   help="queue zone polygon: queue length and wait (repeatable)")
    p.add_argument("--mot", type=Path, help="write tracks as MOTChallenge CSV (frame,id,x,y,w,h,score,-1,-1,-1)")
    p.add_argument("--save-video", type=Path, help="write an annotated video (mp4)")
    p.add_argument("--blur", action="store_true", help="blur people in the saved video")
    p.add_argument("--tiles", type=tiles_arg, default=None, metavar="COLSxROWS",
                   help="tiled inference: overlapping tiles plus the whole frame, merged by NMS (e.g. 2x1; costs "
                   "one inference per tile more per frame)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--json", action="store_true", help="print one JSON summary")
    p.add_argument("--suggest", action="store_true", help="watch the source and propose confidence, tiling and a "
                   "counting line, with the reasons (docs/counting.md)")
    p.add_argument("--seconds", type=float, default=120.0, help="with --suggest: how much to read (default 120)")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_edge, _register_models, _register_detect,
                                                      _register_track, *shelf_cli.REGISTRARS,
                                                      *bundle_cli.REGISTRARS)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
