"""``smartstore bench``: side-by-side speed of one model file, all in one process run (so ratios share machine load).

Per precision: bare engine latency (synchronous, median and p95), bare engine throughput (asynchronous requests on
all cores), whole-pipeline throughput (decode, preprocess, infer, postprocess, pipelined through
:meth:`Detector.stream`), and ``ultralytics`` ``predict`` on the same file in a subprocess (the runtime never imports
ultralytics). The pipeline reads ``sources`` round-robin, so several camera streams are one list away.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.detect import InputError, read_frames
from edge.detector import Detector, Frame
from edge.engines.base import Tensor, create
from edge.models import Manifest, ModelFile

DEFAULT_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def engine_options(engine: str, mode: str, device: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """Engine config for ``mode`` ``latency`` (one request) or ``throughput`` (all cores, many requests)."""
    options: dict[str, Any] = dict(extra)
    if device:
        options["device"] = device
    if engine == "openvino":
        options["hint"] = "LATENCY" if mode == "latency" else "THROUGHPUT"
    elif engine == "onnxruntime" and mode == "throughput":
        cores = os.cpu_count() or 1
        options.setdefault("streams", cores)
        options.setdefault("threads", 1)
    return options


def looped_frames(sources: Sequence[Path], deadline: float) -> Iterator[tuple[int, Frame]]:
    """Frames decoded live from ``sources`` round-robin (each restarted at its end) until ``deadline``."""
    captures = [cv2.VideoCapture(str(p)) for p in sources]
    try:
        for index in itertools.cycle(range(len(captures))):
            if time.perf_counter() >= deadline:
                return
            ok, frame = captures[index].read()
            if not ok:
                captures[index].release()
                captures[index] = cv2.VideoCapture(str(sources[index]))
                ok, frame = captures[index].read()
                if not ok:
                    raise InputError(f"{sources[index]}: cannot read as a video")
            yield index, frame
    finally:
        for capture in captures:
            capture.release()


def sync_latency(detector: Detector, tensors: list[Tensor], seconds: float) -> dict[str, float]:
    """Bare ``engine.infer`` latency in ms (median, p95) over ``seconds``."""
    for tensor in tensors[:3]:
        detector.engine.infer(tensor)
    times = []
    deadline = time.perf_counter() + seconds
    for tensor in itertools.cycle(tensors):
        start = time.perf_counter()
        detector.engine.infer(tensor)
        times.append((time.perf_counter() - start) * 1e3)
        if start > deadline and len(times) >= 10:
            break
    return {"latency_ms_median": statistics.median(times), "latency_ms_p95": float(np.percentile(times, 95)),
            "latency_runs": len(times)}


def async_throughput(detector: Detector, tensors: list[Tensor], seconds: float) -> float:
    """Bare ``engine.infer_stream`` frames per second over ``seconds`` (after a warm-up)."""
    engine = detector.engine
    for _ in engine.infer_stream((i, t) for i, t in zip(range(2 * engine.parallelism), itertools.cycle(tensors))):
        pass
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    def items() -> Iterator[tuple[int, Tensor]]:
        for i, tensor in enumerate(itertools.cycle(tensors)):
            if time.perf_counter() >= deadline:
                return
            yield i, tensor

    done = sum(1 for _ in engine.infer_stream(items()))
    return done / (time.perf_counter() - start)


def pipeline_throughput(detector: Detector, sources: Sequence[Path], seconds: float) -> dict[str, float]:
    """Decode + preprocess + infer + postprocess frames per second (all sources together) over ``seconds``."""
    for _ in detector.stream(looped_frames(sources, time.perf_counter() + 0.5)):
        pass
    start = time.perf_counter()
    frames = boxes = 0
    for _, dets in detector.stream(looped_frames(sources, start + seconds)):
        frames += 1
        boxes += len(dets)
    elapsed = time.perf_counter() - start
    return {"pipeline_fps": frames / elapsed, "pipeline_boxes_per_frame": boxes / max(frames, 1)}


_ULTRALYTICS_SCRIPT = """
import json, sys, time, cv2
from ultralytics import YOLO
model_path, video, seconds, imgsz = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
model = YOLO(model_path, task="detect")
cap = cv2.VideoCapture(video)
frames = [cap.read()[1] for _ in range(64)]
frames = [f for f in frames if f is not None]
for f in frames[:5]:
    model.predict(f, imgsz=imgsz, verbose=False)
n, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    model.predict(frames[n % len(frames)], imgsz=imgsz, verbose=False)
    n += 1
print(json.dumps({"ultralytics_fps": n / (time.perf_counter() - start)}))
"""


def ultralytics_predict(manifest: Manifest, item: ModelFile, video: Path, seconds: float) -> dict[str, Any]:
    """ultralytics ``predict`` frames/s on the same file, in a subprocess; ``{}`` with a reason when it cannot run."""
    if manifest.architecture != "yolo" or item.engine not in ("openvino", "onnxruntime"):
        return {"ultralytics_skipped": f"not an ultralytics {item.engine} model"}
    try:
        import importlib.util

        if importlib.util.find_spec("ultralytics") is None:
            return {"ultralytics_skipped": "ultralytics is not installed"}
    except ValueError:
        return {"ultralytics_skipped": "ultralytics is not importable"}
    with tempfile.TemporaryDirectory() as tmp:
        path = manifest.path_of(item)
        if item.engine == "openvino":  # ultralytics wants a *_openvino_model/ folder: link the same files there
            folder = Path(tmp) / "model_openvino_model"
            folder.mkdir()
            (folder / "model.xml").symlink_to(path)
            (folder / "model.bin").symlink_to(path.with_suffix(".bin"))
            names = {i: name for i, name in enumerate(manifest.labels)}
            (folder / "metadata.yaml").write_text(json.dumps({
                "task": "detect", "stride": 32, "batch": 1, "imgsz": [manifest.input.height, manifest.input.width],
                "names": names}))
            path = folder
        env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "False"}
        proc = subprocess.run(
            [sys.executable, "-c", _ULTRALYTICS_SCRIPT, str(path), str(video), str(seconds),
             str(manifest.input.width)], capture_output=True, text=True, env=env, timeout=seconds * 4 + 120)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"ultralytics_skipped": f"predict failed: {lines[-1] if lines else proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def cpu_info() -> dict[str, Any]:
    flags: set[str] = set()
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"name": name, "cores": os.cpu_count(), "flags": [f for f in CPU_FLAGS if f in flags]}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_file(manifest: Manifest, item: ModelFile, sources: Sequence[Path], seconds: float,
               device: str | None = None, ultralytics: bool = True, **options: Any) -> dict[str, Any]:
    """All measurements for one model file."""
    manifest.verify_file(item)
    path = manifest.path_of(item)
    frames = [frame for _, frame in read_frames(sources[0], 32)]
    row: dict[str, Any] = {"engine": item.engine, "precision": item.precision, "path": str(path)}
    for mode in ("latency", "throughput"):
        engine = create(item.engine, path, **engine_options(item.engine, mode, device, options))
        detector = Detector(manifest, item, engine)
        tensors = [detector.prepare(frame)[0][0] for frame in frames]
        if mode == "latency":
            row.update(sync_latency(detector, tensors, seconds))
        else:
            row["async_fps"] = async_throughput(detector, tensors, seconds)
            row["async_requests"] = engine.parallelism
            row.update(pipeline_throughput(detector, sources, seconds))
            row["pipeline_vs_async"] = row["pipeline_fps"] / row["async_fps"]
        del detector, engine
    if ultralytics:
        row.update(ultralytics_predict(manifest, item, sources[0], seconds))
        if "ultralytics_fps" in row:
            row["pipeline_vs_ultralytics"] = row["pipeline_fps"] / row["ultralytics_fps"]
    return row


def run(model: str, engine: str, precisions: Sequence[str | None], sources: Sequence[Path], seconds: float,
        device: str | None = None, ultralytics: bool = True, **options: Any) -> dict[str, Any]:
    """Bench every precision of ``model`` on ``engine``; the report adds throughput ratios between precisions."""
    manifest = Manifest.load(model)
    items = [manifest.select(engine, p) for p in precisions]
    rows = [bench_file(manifest, item, sources, seconds, device, ultralytics, **options) for item in items]
    report: dict[str, Any] = {"model": manifest.name, "engine": engine, "device": device or "default",
                              "sources": [str(s) for s in sources], "seconds": seconds, "cpu": cpu_info(),
                              "results": rows}
    by_precision = {r["precision"]: r for r in rows}
    if "int8" in by_precision and "fp32" in by_precision:
        report["int8_vs_fp32_async"] = by_precision["int8"]["async_fps"] / by_precision["fp32"]["async_fps"]
        report["int8_vs_fp32_pipeline"] = by_precision["int8"]["pipeline_fps"] / by_precision["fp32"]["pipeline_fps"]
    report["peak_rss_mb"] = peak_rss_mb()
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    columns = [("precision", "{}"), ("latency_ms_median", "{:.1f}"), ("latency_ms_p95", "{:.1f}"),
               ("async_fps", "{:.1f}"), ("pipeline_fps", "{:.1f}"), ("pipeline_vs_async", "{:.2f}"),
               ("ultralytics_fps", "{:.1f}"), ("pipeline_vs_ultralytics", "{:.2f}")]
    lines = [f"{report['model']} on {report['engine']} ({report['device']}), {report['cpu']['name']}, "
             f"{report['cpu']['cores']} cores, {', '.join(report['cpu']['flags'])}"]
    lines.append("  ".join(f"{name:>{max(len(name), 9)}}" for name, _ in columns))
    for row in report["results"]:
        cells = [fmt.format(row[name]) if name in row else "-" for name, fmt in columns]
        lines.append("  ".join(f"{cell:>{max(len(name), 9)}}" for cell, (name, _) in zip(cells, columns, strict=True)))
    for key in ("int8_vs_fp32_async", "int8_vs_fp32_pipeline"):
        if key in report:
            lines.append(f"{key}: {report[key]:.2f}")
    skipped = {row.get("ultralytics_skipped") for row in report["results"]} - {None}
    lines.extend(f"ultralytics: {reason}" for reason in skipped)
    lines.append(f"peak RSS: {report['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)
