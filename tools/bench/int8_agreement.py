"""Label-free INT8 check: how many of the FP16 model's detections the INT8 model finds, on held-out video frames.

    .venv/bin/python tools/bench/int8_agreement.py [--model person-ssdlite] [--int8 FOLDER] [--conf 0.3] [--json]

Runs both files of ``--model`` (or the INT8 file of another manifest, ``--int8``, e.g. a candidate recipe built
elsewhere) on every third frame of ``--video`` (default vtest.avi, frames 1, 4, 7, ...; the calibration takes 240
evenly spaced frames, so most of these are unseen) and reports recall and precision of the INT8 detections against
the FP16 ones at IoU 0.5. Needs no annotation, so it can pick a quantisation recipe without touching a test set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.detect import read_frames
from edge.detector import Detector
from edge.vision.detections import Detections
from tools.quality import Counts

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def detections(model: str, precision: str, video: Path, conf: float) -> list[Detections]:
    """Detections on every third frame of ``video`` (read as it streams: no frames held in memory)."""
    detector = Detector.from_manifest(model, precision=precision, conf=conf, classes=None, hint="THROUGHPUT")
    frames = ((index, frame) for index, frame in read_frames(video) if index % 3 == 1)
    return [dets for _, dets in detector.stream(((i, f), f) for i, f in frames)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="person-ssdlite")
    parser.add_argument("--int8", help="model folder or model.yaml whose INT8 file to compare (default: --model's)")
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--conf", type=float, default=0.3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reference = detections(args.model, "fp16", args.video, args.conf)
    quantised = detections(args.int8 or args.model, "int8", args.video, args.conf)
    counts = Counts()
    for ref, test in zip(reference, quantised, strict=True):
        counts.add(test.xyxy, ref.xyxy, 0.5)
    report = {"frames": len(reference), "conf": args.conf, "recall": round(counts.recall, 4),
              "precision": round(counts.precision, 4), "fp16_boxes": counts.tp + counts.fn,
              "int8_boxes": counts.tp + counts.fp}
    print(json.dumps(report) if args.json else
          f"INT8 vs FP16 on {len(reference)} frames at conf {args.conf}: recall {report['recall']:.4f}, "
          f"precision {report['precision']:.4f} ({report['fp16_boxes']} FP16 boxes, {report['int8_boxes']} INT8)")


if __name__ == "__main__":
    main()
