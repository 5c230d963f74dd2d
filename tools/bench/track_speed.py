"""Side-by-side speed of detection alone and of ``smartstore track`` (detect + track + count) on one video.

    .venv/bin/python tools/bench/track_speed.py /usr/share/doc/opencv-doc/examples/data/vtest.avi --repeat 3

Runs the two alternately (same process, same model, same frame reading) so that load on a shared machine hits
both alike; prints the median frames/s, CPU milliseconds per frame, and the tracker+counters share of the
per-frame time measured inside the tracking runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from edge.detect import read_frames
from edge.detector import Detector
from edge.track import counting_config, track_video


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def detect_only(detector: Detector, video: Path) -> int:
    frames = 0
    for _ in detector.stream((i, f) for i, f in read_frames(video)):
        frames += 1
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--model", default="person-ssdlite")
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--hint", default="LATENCY", help="OpenVINO performance hint")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = counting_config(["door=0,400,768,400"], ["hall=100,200;700,200;700,570;100,570"])
    detector = Detector.from_manifest(args.model, precision=args.precision, conf=config.tracker.low_thresh,
                                      hint=args.hint)
    results: dict[str, list[dict[str, float]]] = {"detect": [], "track": []}
    for _ in range(args.repeat):
        for kind in ("detect", "track"):
            wall, cpu = time.perf_counter(), cpu_s()
            summary: dict[str, Any] = {}
            if kind == "detect":
                frames = detect_only(detector, args.video)
            else:
                summary = track_video(detector, args.video, config)
                frames = summary["frames"]
            wall, cpu = time.perf_counter() - wall, cpu_s() - cpu
            row = {"fps": frames / wall, "cpu_ms_per_frame": 1000 * cpu / frames}
            if summary:
                row["counting_share"] = summary["counting_ms_per_frame"] / (1000 * wall / frames)
                row["counting_ms_per_frame"] = summary["counting_ms_per_frame"]
            results[kind].append(row)
    report = {
        kind: {key: round(statistics.median(r[key] for r in rows), 4) for key in rows[0]}
        for kind, rows in results.items()
    }
    report["hint"] = args.hint  # type: ignore[assignment]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
