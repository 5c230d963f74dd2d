"""``smartstore`` subcommands of the shelf path (``edge.cli`` registers them): ``sku enroll|identify``, ``shelf``
and ``hw sensors`` (serial shelf sensors; the weight analytics live in ``edge``, so the command does too).

Parsing only: handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.cli import HW_HELP
from smartstore import Subparsers, UserError, add_command, command_group

DEFAULT_EMBEDDER = "efficientnet-lite0"
NO_PROJECTION = Path("none")  # --projection none: raw embeddings


def _sku_enroll(args: argparse.Namespace) -> int:
    import time

    from edge.analytics.sku import (
        Embedder,
        Gallery,
        GalleryError,
        calibrate_threshold,
        default_projection,
        enroll_folder,
        labelled_images,
        load_projection,
    )

    embedder = Embedder(args.embedder, args.engine, args.precision)
    gallery = Gallery.load(args.add_to) if args.add_to else None
    projection, projected_threshold = None, None
    if args.projection is None and gallery is None and args.embedder == DEFAULT_EMBEDDER:
        args.projection = default_projection()  # the shipped one (a gallery to add to keeps its own)
    if args.projection is not None and args.projection != NO_PROJECTION:
        projection, made_by, projected_threshold = load_projection(args.projection)
        if made_by.split("/")[0] != embedder.name.split("/")[0]:  # any engine/precision of the same embedder
            raise GalleryError(f"projection {args.projection} was fitted on {made_by}, not {embedder.name}")
    before = len(gallery) if gallery is not None else 0
    start = time.perf_counter()
    gallery = enroll_folder(args.gallery_dir, embedder, gallery, projection)
    per_image = (time.perf_counter() - start) / max(len(gallery) - before, 1)
    if args.threshold is not None:
        gallery.threshold, note = args.threshold, "given"
    elif projection is not None and args.calibrate is None and projected_threshold is not None:
        gallery.threshold, note = projected_threshold, f"cross-validated with the projection ({args.projection})"
    elif args.calibrate is not None or len(gallery) > len(gallery.skus):
        if args.calibrate is not None:
            items = labelled_images(args.calibrate)
            queries, labels, loo = embedder.embed_files([p for _, p in items]), [s for s, _ in items], False
        else:
            queries, labels, loo = None, gallery.labels.tolist(), True
        gallery.threshold, rates = calibrate_threshold(gallery, queries, labels, args.accept, loo)
        note = (f"calibrated on {len(labels)} images: accepts {rates['accepted']:.0%} of known products, "
                f"rejects {rates['rejected_impostors']:.0%} of unenrolled ones")
    else:
        note = "not calibrated (one image per SKU: give --calibrate DIR or --threshold)"
    gallery.save(args.out)
    print(f"{args.out}: {len(gallery.skus)} SKUs, {len(gallery)} images ({per_image * 1000:.0f} ms per image), "
          f"unknown below {gallery.threshold:.3f} ({note})")
    return 0


def _sku_identify(args: argparse.Namespace) -> int:
    import json

    from edge.analytics.sku import Embedder, Gallery, GalleryError, image_paths

    gallery = Gallery.load(args.gallery)
    paths = image_paths(args.images)
    embedder = Embedder(args.embedder, args.engine, args.precision)
    if gallery.embedder and gallery.embedder != embedder.name:
        raise GalleryError(f"gallery {args.gallery} was enrolled with {gallery.embedder}, not {embedder.name}")
    matches = gallery.match(embedder.embed_files(paths), k=args.k)
    for path, match in zip(paths, matches, strict=True):
        if args.json:
            print(json.dumps({"image": str(path), "sku": match.sku, "score": round(match.score, 4),
                              "top": [{"sku": s, "score": round(v, 4)} for s, v in match.top]}))
        else:
            print(f"{path}: {match.sku} ({match.score:.3f})  " + "  ".join(f"{s} {v:.3f}" for s, v in match.top))
    return 0


def _model_options(parser: argparse.ArgumentParser, embedder: bool = True) -> None:
    from edge.cli import ENGINE_HELP  # at registration time: edge.cli is loaded by then (it imports this module)

    if embedder:
        parser.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="embedding model (default: %(default)s)")
    parser.add_argument("--engine", default="auto", help=ENGINE_HELP)
    parser.add_argument("--precision", default=None, help="fp32 | fp16 | int8 (default: the fastest file this CPU "
                        "runs exactly)")


def _register_sku(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "sku", "SKU recognition: enroll product images, identify crops")
    enroll = add_command(group, "enroll", "embed GALLERY_DIR/<SKU>/*.jpg into a gallery (.npz); no retraining",
                         _sku_enroll)
    enroll.add_argument("gallery_dir", type=Path, help="one folder per SKU, images inside (folder name = SKU)")
    enroll.add_argument("--out", type=Path, required=True, help="gallery file to write (.npz)")
    enroll.add_argument("--add-to", type=Path, help="existing gallery to add the SKUs to")
    enroll.add_argument("--calibrate", type=Path, help="labelled images (DIR/<SKU>/*.jpg) to calibrate the "
                        "unknown threshold on (default: leave-one-out on the gallery)")
    enroll.add_argument("--accept", type=float, default=0.95, help="share of known products to accept "
                        "(default: %(default)s)")
    enroll.add_argument("--threshold", type=float, help="cosine threshold for 'unknown' (skips calibration)")
    enroll.add_argument("--projection", type=Path, help="learned projection (.npz from export/sku_projection.py) "
                        "stored in the gallery (default: the shipped models/shelf-products/sku-projection.npz for "
                        f"{DEFAULT_EMBEDDER}; '{NO_PROJECTION}': raw embeddings)")
    _model_options(enroll)
    identify = add_command(group, "identify", "top-k SKUs of each image", _sku_identify)
    identify.add_argument("images", nargs="+", help="images or folders of images")
    identify.add_argument("--gallery", type=Path, required=True, help="gallery .npz from 'smartstore sku enroll'")
    identify.add_argument("--k", type=int, default=5, help="how many SKUs to list (default: %(default)s)")
    identify.add_argument("--json", action="store_true", help="one JSON object per image")
    _model_options(identify)


def _shelf(args: argparse.Namespace) -> int:
    import json

    from edge.analytics.shelf_config import load_shelf_config
    from edge.annotate import draw_shelf
    from edge.shelf_loader import load_shelf_pipeline, shelf_frames

    writer = None
    result = None
    try:
        config = load_shelf_config(args.config)
        pipeline = load_shelf_pipeline(config, args.config.parent)
        for image, result in shelf_frames(pipeline, args.source):
            for event in result.frame.events:
                if not args.json and event.kind != "shelf.snapshot":
                    print(f"{result.frame.ts:8.2f}s {event.kind} {json.dumps(event.data)}")
            if args.json:
                print(json.dumps({**result.frame.to_dict(), "ms": result.ms, "embedded": result.embedded}))
            if args.save_video is not None:
                writer = _write_frame(writer, args.save_video, draw_shelf(image, result, config))
    finally:
        if writer is not None and hasattr(writer, "release"):
            writer.release()
    if result is None:
        raise UserError(f"{args.source}: no frames")
    if not args.json:
        frame = result.frame
        for row, counts in frame.facings.items():
            print(f"row {row}: " + (", ".join(f"{sku} x{n}" for sku, n in counts.items()) or "no products"))
        print(f"gaps: {', '.join(frame.gaps) or 'none'}; compliance: "
              f"{'n/a' if frame.compliance is None else f'{frame.compliance:.0%}'}")
    return 0


def _write_frame(writer: Any, path: Path, image: Any) -> Any:
    """Append to an mp4 (created on the first frame), or write the still for an image path."""
    import cv2

    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        if not cv2.imwrite(str(path), image):
            raise UserError(f"cannot write {path}")
        return None
    if writer is None:
        h, w = image.shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (w, h))
        if not writer.isOpened():
            raise UserError(f"cannot write video {path}")
    writer.write(image)
    return writer


def _register_shelf(subparsers: Subparsers) -> None:
    shelf = add_command(subparsers, "shelf", "shelf analytics on an image or video: facings, gaps, planogram "
                        "compliance, out-of-stock alerts", _shelf)
    shelf.add_argument("source", type=Path, metavar="IMAGE_OR_VIDEO")
    shelf.add_argument("--config", type=Path, required=True, help="shelf YAML (rows, slots, planogram, gallery)")
    shelf.add_argument("--json", action="store_true", help="one JSON object per frame (state, events, timings)")
    shelf.add_argument("--save-video", type=Path, metavar="OUT.mp4", help="annotated video (or .jpg for an image)")



def _sensors(args: argparse.Namespace) -> int:
    import threading
    import time

    from edge.analytics.sensor_processor import SensorEvent, SensorProcessor
    from edge.analytics.weights import WeightConfig
    from hardware.serial_sensors import SerialSensorReader, check_port

    check_port(args.port)

    def show(event: SensorEvent) -> None:
        print(json.dumps({"type": type(event).__name__, **vars(event)}), flush=True)

    processor = SensorProcessor(WeightConfig(unit_g=args.unit_g))
    reader = SerialSensorReader(args.port, show, baudrate=args.baud, processor=processor).start()
    try:
        if args.seconds:
            time.sleep(args.seconds)
        else:
            threading.Event().wait()  # until ^C
    finally:
        reader.stop()
        print(json.dumps({"stats": reader.stats.as_dict()}))
    return 0


def _register_sensors(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "hw", HW_HELP)  # the weight analytics live in edge: hardware never imports it
    sensors = add_command(group, "sensors", "print shelf-sensor events read from a serial port", _sensors)
    sensors.add_argument("port", help="device path (/dev/ttyUSB0) or pyserial URL (socket://host:port)")
    sensors.add_argument("--baud", type=int, default=9600)
    sensors.add_argument("--seconds", type=float, default=0, help="stop after this long (default: run until ^C)")
    sensors.add_argument("--unit-g", type=float, help="weight of one item, to count units in events")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_sku, _register_shelf, _register_sensors)
