"""Recall and precision of person-ssdlite's files on the annotated TUD sequences, as JSON: run in a child process by
the quality tests, so that a oneDNN ISA cap (``ONEDNN_MAX_CPU_ISA``) applies to every OpenVINO kernel it compiles.

    python -m tests.edge.vision.person_recall SHARED_DATA [ENGINE/PRECISION ...]

Without file names: the OpenVINO FP16 reference, every INT8 file, and the file ``engine: auto`` gives this box.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edge.detect import read_frames
from edge.detector import Detector
from edge.models import Manifest, choose_file
from tools.quality import evaluate, load_mot_gt

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
CONFIDENCES = (0.3, 0.5)


def recall(shared: Path, files: list[tuple[str, str]]) -> dict[str, dict[str, dict[str, float]]]:
    sequences = {name: (load_mot_gt(shared / "mot" / name / "gt" / "gt.txt"),
                        list(read_frames(shared / "mot" / name / f"{name}.mp4"))) for name in SEQUENCES}
    report: dict[str, dict[str, dict[str, float]]] = {}
    for engine, precision in files:
        detector = Detector.from_manifest("person-ssdlite", engine, precision, conf=min(CONFIDENCES),
                                          throughput=True)
        rows = report.setdefault(f"{engine}/{precision}", {})
        for name, (gt, frames) in sequences.items():
            results = [(i + 1, dets) for (i, _), dets in detector.stream(((i, f), f) for i, f in frames)]
            for conf in CONFIDENCES:
                score = evaluate(results, gt, iou=0.5, conf=conf)
                rows[f"{name}@{conf}"] = {"recall": score.recall, "precision": score.precision,
                                          "people": score.tp + score.fn}
    return report


def main(argv: list[str]) -> None:
    manifest = Manifest.load("person-ssdlite")
    chosen, _ = choose_file(manifest)
    files = [tuple(a.split("/", 1)) for a in argv[1:]] or [
        ("openvino", "fp16"), *((f.engine, f.precision) for f in manifest.files if f.precision == "int8")]
    report = recall(Path(argv[0]), [(e, p) for e, p in files])
    print(json.dumps({"chosen": f"{chosen.engine}/{chosen.precision}", "files": report}))


if __name__ == "__main__":
    main(sys.argv[1:])
