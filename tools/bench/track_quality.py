"""Tracking and counting quality of ``smartstore track`` on the annotated TUD sequences in ../shared/data/mot.

    PYTHONPATH=. .venv/bin/python tools/bench/track_quality.py [--precision int8|fp16]

Runs the command itself per sequence (with the test lines of tests/edge/test_track_cli.py and ``--mot``), then
scores the MOT file with motmetrics (MOTA, IDF1, ID switches) and the line counts against crossings derived
from the annotated tracks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from smartstore import main as smartstore
from tests.conftest import SHARED_DATA
from tests.edge.test_track_cli import LINES, gt_crossings, mot_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="person-ssdlite")
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args()
    for seq, lines in LINES.items():
        folder = SHARED_DATA / "mot" / seq
        with tempfile.TemporaryDirectory() as tmp:
            mot = Path(tmp) / "tracks.txt"
            line_args = [a for name, xy in lines.items() for a in ("--line", f"{name}=" + ",".join(map(str, xy)))]
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                smartstore(["track", str(folder / f"{seq}.mp4"), "--model", args.model, "--precision",
                            args.precision, *line_args, "--mot", str(mot), "--json"])
            summary = json.loads(out.getvalue())
            tracks = np.loadtxt(mot, delimiter=",", ndmin=2)
        gt = np.loadtxt(folder / "gt" / "gt.txt", delimiter=",", ndmin=2)
        scores = mot_scores(gt, tracks)
        counts = {name: {"got": summary["lines"][name], "truth": gt_crossings(gt, xy)} for name, xy in lines.items()}
        print(json.dumps({"sequence": seq, "precision": args.precision, "mota": round(float(scores["mota"]), 3),
                          "idf1": round(float(scores["idf1"]), 3), "id_switches": int(scores["num_switches"]),
                          "lines": counts}))


if __name__ == "__main__":
    main()
