"""ultralytics ``predict`` on one model file, as a child process of ``smartstore bench`` (the runtime never imports
ultralytics; :class:`tools.bench_edge.UltralyticsWorker` runs this file with the same interpreter).

Usage: ``python ultralytics_predict.py MODEL VIDEO IMGSZ``. The model is loaded once and warmed up on five frames;
it then prints ``{"ready": true}`` and, for every line ``SECONDS SOURCE`` read from stdin, predicts for that many
seconds and prints ``{"fps": ...}``: ``SOURCE`` ``video`` decodes the video in the timed loop (as the whole pipeline
does), ``memory`` cycles over 16 frames decoded beforehand (no decoding: the stricter comparison).
"""

from __future__ import annotations

import json
import sys
import time

import cv2


def main(model_path: str, video: str, imgsz: int) -> None:
    from ultralytics import YOLO

    model = YOLO(model_path, task="detect")
    cap = cv2.VideoCapture(video)
    frames = [f for f in (cap.read()[1] for _ in range(16)) if f is not None]
    for f in frames[:5]:
        model.predict(f, imgsz=imgsz, verbose=False)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        seconds, source = line.split()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < float(seconds):
            if source == "video":  # decode in the loop, as the whole pipeline does
                ok, frame = cap.read()
                if not ok:
                    cap.release()
                    cap = cv2.VideoCapture(video)
                    ok, frame = cap.read()
            else:
                frame = frames[n % len(frames)]
            model.predict(frame, imgsz=imgsz, verbose=False)
            n += 1
        print(json.dumps({"fps": n / (time.perf_counter() - start)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
