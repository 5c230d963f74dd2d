"""``smartstore`` subcommands of the ``tools`` package: ``bench``, ``bench-collector`` and ``demo``.

``smartstore`` registers this module when the ``tools`` package is present (a checkout, or the editable install
``make`` makes); the wheel of an edge box carries no tools, and its ``smartstore`` has none of these commands.
Parsing only: handlers import their tool inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from edge.cli import add_model_options, tiles_arg
from smartstore import Subparsers, UserError, add_command
from tools import VTEST


def _stream_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of stream counts") from None
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: stream counts must be >= 1")
    return counts


def _bench_service(args: argparse.Namespace) -> int:
    import json

    from tools import bench_service

    if args.outbox:
        result = bench_service.bench_outbox()
        print(json.dumps(result, indent=2) if args.json else bench_service.outbox_table(result))
        return 0
    if not args.video.is_file():
        raise UserError(f"{args.video}: no such video")
    results = []
    for n in args.streams:
        try:
            results.append(bench_service.bench_streams(n, args.video, args.model, args.engine, args.precision,
                                                       seconds=args.seconds))
        except (ValueError, OSError) as exc:
            raise UserError(str(exc)) from None
        print(json.dumps(results[-1]) if args.json else bench_service.table(results[-1:]), flush=True)
    return 0


def _bench_shadow(args: argparse.Namespace) -> int:
    import json

    from tools.bench_shadow import bench_shadow, table

    if not args.video.is_file():
        raise UserError(f"{args.video}: no such video")
    live = {"name": args.model, "engine": args.engine, "precision": args.precision or "auto"}
    candidate = {"model": args.shadow, "engine": args.shadow_engine, "precision": args.shadow_precision,
                 "options": {"threads": args.shadow_threads} if args.shadow_threads else {}}
    try:
        report = bench_shadow(args.video, live, candidate, args.shadow_every, rounds=args.rounds)
    except ValueError as exc:  # a config error names the field (edge.config.ConfigError)
        raise UserError(str(exc)) from None
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


def _bench(args: argparse.Namespace) -> int:
    import json

    if args.streams or args.outbox:
        return _bench_service(args)
    if args.shadow:
        return _bench_shadow(args)
    from tools.bench_edge import run, table

    if not args.video.is_file():
        raise UserError(f"{args.video}: no such video")
    report = run(args.model, args.engine, args.precision.split(",") if args.precision else [None],
                 [args.video], args.seconds, args.device, ultralytics=not args.no_ultralytics, rounds=args.rounds,
                 tiling=args.tiles)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


def _register_bench(subparsers: Subparsers) -> None:
    bench = add_command(subparsers, "bench", "speed of a model: bare latency and throughput, whole pipeline, "
                        "ultralytics predict, peak RSS", _bench)
    add_model_options(bench, "yolo11n")
    bench.add_argument("--precision", default=None, help="one or a comma list, e.g. int8,fp32 (ratios between them "
                       "are reported)")
    bench.add_argument("--video", type=Path, default=VTEST, help=f"video to decode (default {VTEST})")
    bench.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement (default 10)")
    bench.add_argument("--rounds", type=int, default=5, help="interleaved rounds over which each figure is the "
                       "median (default 5)")
    bench.add_argument("--no-ultralytics", action="store_true", help="skip ultralytics predict")
    bench.add_argument("--tiles", type=tiles_arg, default=None, metavar="COLSxROWS",
                       help="bench the pipeline with tiled inference (e.g. 2x1: the cost of smartstore track --tiles)")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.add_argument("--streams", type=_stream_counts, default=None, metavar="N[,N...]",
                       help="stream density instead: N paced 15-fps copies of --video through the whole service "
                       "(use --model person-ssdlite); see tools/bench_service.py")
    bench.add_argument("--outbox", action="store_true", help="outbox throughput instead: enqueue and drain through "
                       "a private Mosquitto at QoS 1 (30,000 events, median of 3)")
    bench.add_argument("--shadow", metavar="CANDIDATE", default=None,
                       help="shadow-mode cost instead: the frame loop of --model (with --engine, --precision) alone "
                       "and with CANDIDATE beside it (tools/bench_shadow.py)")
    bench.add_argument("--shadow-engine", default="auto", help="the candidate's engine (default auto)")
    bench.add_argument("--shadow-precision", default="auto", help="the candidate's precision (default auto)")
    bench.add_argument("--shadow-every", type=_stream_counts, default=[1, 5], metavar="N[,N...]",
                       help="run the candidate on every Nth frame: the settings to measure (default 1,5)")
    bench.add_argument("--shadow-threads", type=int, default=None, metavar="N",
                       help="the candidate's inference threads (engine option threads; default 1, as in shadow:)")


def _demo(args: argparse.Namespace) -> int:
    from tools.demo import run_demo

    result = run_demo(args.workdir, once=args.once, video=args.video, api_port=args.port, broker=args.broker)
    return 0 if result.events > 0 else 1


def _bench_collector(args: argparse.Namespace) -> int:
    from tools.bench_collector import run_bench

    run_bench(args.db, events=args.events, rate=args.rate, publishers=args.publishers, mode=args.mode,
              replicas=args.replicas, as_json=args.json, protocol=args.protocol)
    return 0


def _register_demo(subparsers: Subparsers) -> None:
    demo = add_command(subparsers, "demo", "end-to-end demo: Mosquitto, collector and edge service on vtest.avi",
                       _demo)
    demo.add_argument("--once", action="store_true", help="play the video once, wait for its events, then exit")
    demo.add_argument("--workdir", type=Path, default=Path("demo-out"), help="where the demo keeps its files")
    demo.add_argument("--video", type=Path, default=VTEST)
    demo.add_argument("--port", type=int, default=8080, help="dashboard port (a free one is used if taken)")
    demo.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default="auto",
                      help="auto: Mosquitto if installed, else the embedded amqtt broker (MQTT 3.1.1)")


def _register_bench_collector(subparsers: Subparsers) -> None:
    bench = add_command(subparsers, "bench-collector", "collector ingest throughput and latency through Mosquitto",
                        _bench_collector)
    bench.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a postgresql:// URL")
    bench.add_argument("--events", type=int, default=100_000)
    bench.add_argument("--rate", type=float, default=12_000, help="target publish rate, events/s (live mode)")
    bench.add_argument("--publishers", type=int, default=2, help="publisher processes")
    bench.add_argument("--replicas", type=int, default=1, help="collector processes on one shared subscription")
    bench.add_argument("--mode", choices=("live", "backlog"), default="live",
                       help="live: publish while ingesting; backlog: queue everything, then drain")
    bench.add_argument("--protocol", choices=("5", "3.1.1"), default="5", help="the collectors' MQTT version")
    bench.add_argument("--json", action="store_true")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_bench, _register_bench_collector, _register_demo)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
