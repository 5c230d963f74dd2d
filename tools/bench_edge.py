"""``smartstore bench``: side-by-side speed of one model file, all in one process run (so ratios share machine load).

Per precision: bare engine latency (synchronous, median and p95), bare engine throughput (asynchronous requests on
all cores), whole-pipeline throughput (decode, preprocess, infer, postprocess, pipelined through
:meth:`Detector.stream`), and ``ultralytics`` ``predict`` on the same file in a subprocess
(``tools/ultralytics_predict.py``: the runtime never imports ultralytics), twice: decoding the same video in its
loop (``ultralytics_fps``, like for like) and on frames held in memory (``ultralytics_memory_fps``, no decoding:
the stricter comparison). The pipeline reads ``sources`` round-robin, so several camera streams are one list away.
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
from typing import Any, Literal

import cv2
import numpy as np

from edge.detect import InputError, read_frames
from edge.detector import Detector, Frame
from edge.engines.base import Tensor, create
from edge.models import Manifest, ModelFile, choose_file
from edge.vision.tiling import Tiling

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


def sync_latency(detector: Detector, tensors: list[Tensor], seconds: float) -> list[float]:
    """Bare ``engine.infer`` latencies in ms over about ``seconds``."""
    times = []
    deadline = time.perf_counter() + seconds
    for tensor in itertools.cycle(tensors):
        start = time.perf_counter()
        detector.engine.infer(tensor)
        times.append((time.perf_counter() - start) * 1e3)
        if start > deadline and len(times) >= 3:
            break
    return times


def async_throughput(detector: Detector, tensors: list[Tensor], seconds: float) -> float:
    """Bare ``engine.infer_stream`` frames per second over ``seconds``."""
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    def items() -> Iterator[tuple[int, Tensor]]:
        for i, tensor in enumerate(itertools.cycle(tensors)):
            if time.perf_counter() >= deadline:
                return
            yield i, tensor

    done = sum(1 for _ in detector.engine.infer_stream(items()))
    return done / (time.perf_counter() - start)


def pipeline_throughput(detector: Detector, sources: Sequence[Path], seconds: float) -> tuple[float, float]:
    """Decode + preprocess + infer + postprocess: (frames per second of all sources together, boxes per frame)."""
    start = time.perf_counter()
    frames = boxes = 0
    for _, dets in detector.stream(looped_frames(sources, start + seconds)):
        frames += 1
        boxes += len(dets)
    return frames / (time.perf_counter() - start), boxes / max(frames, 1)


#: the child that runs ultralytics ``predict`` (a script of its own, run by path with this interpreter)
ULTRALYTICS_SCRIPT = Path(__file__).with_name("ultralytics_predict.py")


class UltralyticsWorker:
    """ultralytics ``predict`` on the same model file, in a child process (the runtime never imports ultralytics).

    The child loads the model once; :meth:`measure` runs it for some seconds, so its rounds interleave with ours.
    ``source="video"`` decodes the video in the timed loop (the same work as the whole pipeline); ``"memory"``
    predicts on 16 frames decoded beforehand (ultralytics without decoding: the stricter comparison).
    """

    def __init__(self, manifest: Manifest, item: ModelFile, video: Path) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        path = manifest.path_of(item)
        if item.engine == "openvino":  # ultralytics wants a *_openvino_model/ folder: link the same files there
            folder = Path(self._tmp.name) / "model_openvino_model"
            folder.mkdir()
            (folder / "model.xml").symlink_to(path)
            (folder / "model.bin").symlink_to(path.with_suffix(".bin"))
            (folder / "metadata.yaml").write_text(json.dumps({
                "task": "detect", "stride": 32, "batch": 1, "imgsz": [manifest.input.height, manifest.input.width],
                "names": dict(enumerate(manifest.labels))}))
            path = folder
        env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "False"}
        self._log = open(Path(self._tmp.name) / "stderr.log", "w+")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [sys.executable, str(ULTRALYTICS_SCRIPT), str(path), str(video), str(manifest.input.width)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            self._log.seek(0)
            lines = self._log.read().strip().splitlines()
            raise RuntimeError(f"ultralytics predict failed: {lines[-1] if lines else self._proc.returncode}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def measure(self, seconds: float, source: Literal["video", "memory"] = "video") -> float:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{seconds} {source}\n")
        self._proc.stdin.flush()
        return float(self._reply()["fps"])

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)
        self._log.close()
        self._tmp.cleanup()


def ultralytics_available(manifest: Manifest, item: ModelFile) -> str | None:
    """None when ultralytics can run this file, else the reason it cannot."""
    if manifest.architecture != "yolo" or item.engine not in ("openvino", "onnxruntime"):
        return f"not an ultralytics {item.engine} model"
    import importlib.util

    return None if importlib.util.find_spec("ultralytics") is not None else "ultralytics is not installed"


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


def edge_process_rss_mb(model: str, item: ModelFile, video: Path, frames: int = 200) -> float:
    """Peak RSS of a ``smartstore detect`` process on ``frames`` frames: the footprint of one edge pipeline."""
    command = [sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())", "detect", str(video),
               "--model", model, "--engine", item.engine, "--precision", item.precision, "--max-frames", str(frames)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise InputError(f"smartstore detect exited with {proc.returncode}: run it by hand to see why")
    return usage.ru_maxrss / 1024


class Variant:
    """One model file set up for every measurement: a LATENCY engine, a THROUGHPUT engine, ultralytics."""

    def __init__(self, manifest: Manifest, item: ModelFile, frames: list[Frame], device: str | None,
                 options: dict[str, Any], tiling: Tiling | None = None) -> None:
        manifest.verify_file(item)
        self.item = item
        path = manifest.path_of(item)
        self.latency = Detector(manifest, item, create(item.engine, path, **engine_options(
            item.engine, "latency", device, options)), tiling=tiling)
        self.throughput = Detector(manifest, item, create(item.engine, path, **engine_options(
            item.engine, "throughput", device, options)), tiling=tiling)
        self.tensors = [self.latency.prepare(frame)[0][0] for frame in frames]
        self.latencies: list[float] = []
        self.samples: dict[str, list[float]] = {"async_fps": [], "pipeline_fps": [], "ultralytics_fps": [],
                                                "ultralytics_memory_fps": []}
        self.boxes_per_frame = 0.0
        self.ultralytics: UltralyticsWorker | None = None

    def warm_up(self, sources: Sequence[Path]) -> None:
        sync_latency(self.latency, self.tensors, 0.0)
        async_throughput(self.throughput, self.tensors, 0.5)
        pipeline_throughput(self.throughput, sources, 0.5)

    def measure(self, sources: Sequence[Path], seconds: float) -> None:
        """One round: each measurement for ``seconds``."""
        self.latencies += sync_latency(self.latency, self.tensors, seconds)
        self.samples["async_fps"].append(async_throughput(self.throughput, self.tensors, seconds))
        fps, self.boxes_per_frame = pipeline_throughput(self.throughput, sources, seconds)
        self.samples["pipeline_fps"].append(fps)
        if self.ultralytics is not None:
            self.samples["ultralytics_fps"].append(self.ultralytics.measure(seconds, "video"))
            self.samples["ultralytics_memory_fps"].append(self.ultralytics.measure(seconds, "memory"))

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "engine": self.item.engine, "precision": self.item.precision,
            "latency_ms_median": statistics.median(self.latencies),
            "latency_ms_p95": float(np.percentile(self.latencies, 95)), "latency_runs": len(self.latencies),
            "async_requests": self.throughput.engine.parallelism,
            "pipeline_boxes_per_frame": self.boxes_per_frame,
        }
        for key, values in self.samples.items():
            if values:
                row[key] = statistics.median(values)
                row[key + "_rounds"] = [round(v, 2) for v in values]
        row["pipeline_vs_async"] = paired_ratio(self.samples["pipeline_fps"], self.samples["async_fps"])
        if "ultralytics_fps" in row:
            row["pipeline_vs_ultralytics"] = paired_ratio(self.samples["pipeline_fps"], self.samples["ultralytics_fps"])
            row["pipeline_vs_ultralytics_memory"] = paired_ratio(self.samples["pipeline_fps"],
                                                                 self.samples["ultralytics_memory_fps"])
        return row


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of ``a / b`` measured in the same round (robust to load that changes between rounds)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def run(model: str, engine: str, precisions: Sequence[str | None], sources: Sequence[Path], seconds: float,
        device: str | None = None, ultralytics: bool = True, rounds: int = 5, tiling: Tiling | None = None,
        **options: Any) -> dict[str, Any]:
    """Bench every precision of ``model`` on ``engine``, interleaved: ``rounds`` rounds in which every variant runs
    every measurement for ``seconds / rounds``. Each figure is the median over rounds and each ratio the median of
    the ratios within a round, so load on a shared machine hits the compared variants alike. ``tiling``: the
    whole pipeline runs tiled (``pipeline_fps`` is then frames, each several inferences; the bare engine figures
    stay per inference)."""
    manifest = Manifest.load(model)
    engine = choose_file(manifest, engine, None, device)[0].engine  # one engine for every precision compared
    items = [choose_file(manifest, engine, p, device)[0] for p in precisions]
    frames = [frame for _, frame in read_frames(sources[0], 16)]
    report: dict[str, Any] = {"model": manifest.name, "engine": engine, "device": device or "default",
                              "sources": [str(s) for s in sources], "seconds": seconds, "rounds": rounds,
                              "cpu": cpu_info(), "tiles": None if tiling is None else f"{tiling.cols}x{tiling.rows}"}
    report["edge_process_peak_rss_mb"] = edge_process_rss_mb(str(manifest.root), items[0], sources[0])
    variants = [Variant(manifest, item, frames, device, options, tiling) for item in items]
    skipped = set()
    try:
        for variant in variants:
            reason = ultralytics_available(manifest, variant.item) if ultralytics else "--no-ultralytics"
            if reason is None:
                try:
                    variant.ultralytics = UltralyticsWorker(manifest, variant.item, sources[0])
                except RuntimeError as exc:
                    skipped.add(str(exc))
            else:
                skipped.add(reason)
            variant.warm_up(sources)
        for _ in range(rounds):
            for variant in variants:
                variant.measure(sources, seconds / rounds)
    finally:
        for variant in variants:
            if variant.ultralytics is not None:
                variant.ultralytics.close()
    rows = [variant.row() for variant in variants]
    report["results"] = rows
    if skipped:
        report["ultralytics_skipped"] = sorted(skipped)
    by_precision = {v.item.precision: v for v in variants}
    if "int8" in by_precision and "fp32" in by_precision:
        for key in ("async_fps", "pipeline_fps"):
            report[f"int8_vs_fp32_{key}"] = paired_ratio(by_precision["int8"].samples[key],
                                                         by_precision["fp32"].samples[key])
    report["bench_peak_rss_mb"] = peak_rss_mb()
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    columns = [("precision", "{}"), ("latency_ms_median", "{:.1f}"), ("latency_ms_p95", "{:.1f}"),
               ("async_fps", "{:.1f}"), ("pipeline_fps", "{:.1f}"), ("pipeline_vs_async", "{:.2f}"),
               ("ultralytics_fps", "{:.1f}"), ("pipeline_vs_ultralytics", "{:.2f}"),
               ("ultralytics_memory_fps", "{:.1f}"), ("pipeline_vs_ultralytics_memory", "{:.2f}")]
    lines = [f"{report['model']} on {report['engine']} ({report['device']}), {report['cpu']['name']}, "
             f"{report['cpu']['cores']} cores, {', '.join(report['cpu']['flags'])}; median of {report['rounds']} "
             "interleaved rounds" + (f"; pipeline tiled {report['tiles']}" if report.get("tiles") else "")]
    lines.append("  ".join(f"{name:>{max(len(name), 9)}}" for name, _ in columns))
    for row in report["results"]:
        cells = [fmt.format(row[name]) if name in row else "-" for name, fmt in columns]
        lines.append("  ".join(f"{cell:>{max(len(name), 9)}}" for cell, (name, _) in zip(cells, columns, strict=True)))
    lines.extend(f"{key}: {value:.2f}" for key, value in report.items() if key.startswith("int8_vs_fp32"))
    lines.extend(f"ultralytics skipped: {reason}" for reason in report.get("ultralytics_skipped", []))
    lines.append(f"peak RSS: edge process (smartstore detect) {report['edge_process_peak_rss_mb']:.0f} MB, "
                 f"this bench process {report['bench_peak_rss_mb']:.0f} MB")
    return "\n".join(lines)
