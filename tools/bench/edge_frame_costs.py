"""CPU cost per frame of each stage of the edge service, measured one after the other on vtest.avi.

    .venv/bin/python tools/bench/edge_frame_costs.py [--frames 200] [--model person-ssdlite] [--precision int8]

CPU time (``time.process_time``, all threads) is reported besides wall time because the development machine
is shared; the stages are: decode (OpenCV), detect (Detector, sync), count (tracker + line + zone), publish
(build the frame's events and store them in a SQLite outbox, one transaction per frame).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2

from contract.events import Event
from edge.analytics.counting import PeopleCounter
from edge.config import parse_config
from edge.detector import Detector
from edge.outbox import Outbox

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--model", default="person-ssdlite")
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args()
    costs: dict[str, tuple[float, float]] = {}

    def measure(name: str, fn):  # type: ignore[no-untyped-def]
        cpu, wall = time.process_time(), time.perf_counter()
        out = fn()
        costs[name] = ((time.process_time() - cpu) * 1000 / args.frames,
                       (time.perf_counter() - wall) * 1000 / args.frames)
        return out

    cap = cv2.VideoCapture(str(VTEST))
    frames = measure("decode", lambda: [cap.read()[1] for _ in range(args.frames)])
    detector = Detector.from_manifest(args.model, engine="openvino", precision=args.precision, classes=[0], conf=0.4)
    detector(frames[0])  # compile
    detections = measure("detect", lambda: [detector(f) for f in frames])
    config = parse_config({"store": "s", "device": "d", "cameras": [{
        "id": "cam", "source": str(VTEST), "lines": [{"name": "door", "points": [[0, 300], [768, 300]]}],
        "zones": [{"name": "plaza", "polygon": [[100, 100], [668, 100], [668, 500], [100, 500]]}]}]})
    counter = PeopleCounter(config.cameras[0].counting([60, 3600]), fps=15)
    results = measure("count", lambda: [counter.update(d, 1e9 + i / 15) for i, d in enumerate(detections)])
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "outbox.db")

        def publish() -> None:
            for result in results:
                events = [Event(e.kind, "s", "d", 0, e.data, camera="cam", ts=datetime.fromtimestamp(e.ts, UTC))
                          for e in result.events]
                if events:
                    outbox.enqueue(events)

        measure("publish", publish)
        n_events = outbox.last_seq + 1
        outbox.close()
    print(f"{args.frames} frames of {VTEST.name}, {n_events} events; ms per frame (CPU, all threads / wall)")
    for name, (cpu, wall) in costs.items():
        print(f"  {name:<8} {cpu:8.3f} / {wall:8.3f}")
    print(f"  {'total':<8} {sum(c for c, _ in costs.values()):8.3f} / {sum(w for _, w in costs.values()):8.3f}")


if __name__ == "__main__":
    main()
