"""Person detector quality on the annotated TUD sequences in ../shared/data/mot: precision and recall at IoU 0.5.

    .venv/bin/python tools/bench/person_quality.py [--model person-ssdlite] [--conf 0.3 0.5] [--json]

Variants: FP16, INT8, and each with 2x2 tiling (overlapping tiles plus the whole frame, merged by NMS). Every
ground-truth box counts, occluded people included (MOT15 TUD gt has no visibility column; its smallest boxes are
about 120 px tall). Data: MOTChallenge 2D MOT 2015 (CC BY-NC-SA 3.0), via ../shared/data/mot.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from edge.detect import read_frames
from edge.detector import Detector
from edge.vision.tiling import Tiling
from tools.quality import evaluate, load_mot_gt

SHARED = Path(os.environ.get("SMARTSTORE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
VARIANTS = {"fp16": ("fp16", None), "int8": ("int8", None), "fp16 tiled 2x2": ("fp16", Tiling()),
            "int8 tiled 2x2": ("int8", Tiling())}


def run_variant(model: str, precision: str, tiling: Tiling | None, conf: list[float]) -> dict[str, object]:
    detector = Detector.from_manifest(model, precision=precision, conf=min(conf), tiling=tiling,
                                      classes=None, hint="THROUGHPUT")
    person = detector.class_id("person")
    out: dict[str, object] = {}
    for sequence in SEQUENCES:
        folder = SHARED / "mot" / sequence
        gt = load_mot_gt(folder / "gt" / "gt.txt")
        start = time.perf_counter()
        results = [(index + 1, dets[dets.class_id == person])
                   for (index, _), dets in detector.stream(((i, f), f) for i, f in read_frames(folder /
                                                                                              f"{sequence}.mp4"))]
        fps = len(results) / (time.perf_counter() - start)
        out[sequence] = {f"conf {c}": evaluate(results, gt, 0.5, c).as_dict() for c in conf} | {"fps": round(fps, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="person-ssdlite")
    parser.add_argument("--conf", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (SHARED / "mot").is_dir():
        raise SystemExit(f"no MOT data at {SHARED / 'mot'}")
    report = {name: run_variant(args.model, precision, tiling, args.conf)
              for name, (precision, tiling) in VARIANTS.items()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("| variant | sequence | conf | precision | recall | TP | FP | FN | fps |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, sequences in report.items():
        for sequence, rows in sequences.items():  # type: ignore[attr-defined]
            for key, row in rows.items():
                if key.startswith("conf"):
                    print(f"| {name} | {sequence} | {key[5:]} | {row['precision']:.3f} | {row['recall']:.3f} | "
                          f"{row['tp']} | {row['fp']} | {row['fn']} | {rows['fps']} |")


if __name__ == "__main__":
    main()
