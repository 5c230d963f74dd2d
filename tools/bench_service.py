"""Service benchmarks: stream density (``smartstore bench --streams N``) and the outbox (``--outbox``).

Stream density runs the real :class:`edge.service.EdgeService` on ``N`` copies of a video, each paced to
``fps`` and looped, through one shared detector, the tracker, line/zone counters, events, the SQLite outbox and MQTT
(to a private Mosquitto on a free loopback port when the ``mosquitto`` binary exists). After a warm-up it measures,
per stream, frames captured, processed and dropped (replaced by a newer frame before the pipeline took them).
A stream count is sustained when every stream processes >= 95 % of its frames. Because the development
machine is shared, it also reports the process's CPU time per frame (all threads) and the stream count that
CPU cost would allow on this many idle cores (``projected_streams_idle``).

The outbox benchmark measures enqueue rate (one event per transaction, as per frame, and batches of 100),
the drain of a backlog through Mosquitto at QoS 1 (PUBACK, then delete), enqueue and drain running together,
and the per-frame publishing cost; each figure is the median of ``repeat`` runs.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from contract.events import Event
from edge.config import MqttConfig, parse_config
from edge.mqtt import Publisher
from edge.outbox import Outbox
from edge.service import EdgeService, load_pipeline
from tools.broker import LocalBroker, free_port, mosquitto_binary

LINES = [{"name": "door", "points": [[0, 300], [768, 300]]}]
ZONES = [{"name": "plaza", "polygon": [[100, 100], [668, 100], [668, 500], [100, 500]]}]


def _start_broker(folder: Path) -> LocalBroker | None:
    """A throw-away bare Mosquitto (no persistence); None when it is not installed (events then wait in the
    outbox)."""
    if mosquitto_binary() is None:
        return None
    return LocalBroker(folder / "mosquitto", shipped=False).start(timeout=5)


def bench_streams(streams: int, video: Path, model: str = "person-ssdlite", engine: str = "auto",
                  precision: str | None = None, fps: float = 15.0, seconds: float = 20.0,
                  warmup: float = 5.0) -> dict[str, Any]:
    """Run ``streams`` paced copies of ``video`` through the service; returns the measured figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = _start_broker(folder)
        port = broker.port if broker is not None else free_port()
        try:
            cameras = [{"id": f"cam{i}", "source": str(video), "loop": True, "pace": True, "fps": fps,
                        "lines": LINES, "zones": ZONES} for i in range(streams)]
            config = parse_config({
                "store": "bench", "device": "bench", "cameras": cameras, "log_level": "warning",
                "model": {"name": model, "engine": engine, "precision": precision or "auto"},
                "mqtt": {"host": "127.0.0.1", "port": port}, "outbox": {"path": str(folder / "outbox.db")},
            }, "bench")
            service = EdgeService(config, pipeline=load_pipeline(config))
            marks: dict[str, Any] = {}

            def snapshot() -> dict[str, tuple[int, int, int]]:
                return {cid: (cam.captured, cam.dropped, service.stats[cid].frames)
                        for cid, cam in service.cameras.items()}

            def timer() -> None:
                time.sleep(warmup)
                marks["start"] = (time.monotonic(), snapshot(), service.enqueue_s, service.enqueue_cpu_s,
                                  service.frames, time.process_time())
                time.sleep(seconds)
                marks["end"] = (time.monotonic(), snapshot(), service.enqueue_s, service.enqueue_cpu_s,
                                service.frames, time.process_time())
                service.stop()

            thread = threading.Thread(target=timer, daemon=True)
            thread.start()
            service.run()
            thread.join()
        finally:
            if broker is not None:
                broker.stop()
    (t0, s0, e0, c0, f0, p0), (t1, s1, e1, c1, f1, p1) = marks["start"], marks["end"]
    frames = max(f1 - f0, 1)
    cpu_ms = 1000 * (p1 - p0) / frames
    wall = t1 - t0
    per_stream = []
    for cid in s0:
        captured, dropped, processed = (b - a for a, b in zip(s0[cid], s1[cid], strict=True))
        per_stream.append({"camera": cid, "captured": captured, "processed": processed, "dropped": dropped,
                           "fps": round(processed / wall, 2)})
    total_captured = sum(s["captured"] for s in per_stream)
    total_processed = sum(s["processed"] for s in per_stream)
    assert service.pipeline is not None
    return {
        "streams": streams, "target_fps": fps, "seconds": round(wall, 1), "engine": service.pipeline.engine,
        "precision": service.pipeline.precision, "model": model,
        "processed_fps_total": round(total_processed / wall, 2),
        "min_stream_fps": min(s["fps"] for s in per_stream),
        "dropped": sum(s["dropped"] for s in per_stream),
        "dropped_pct": round(100 * (1 - total_processed / max(total_captured, 1)), 2),
        "sustained": all(s["processed"] >= 0.95 * s["captured"] for s in per_stream),
        "publish_ms_per_frame": round(1000 * (e1 - e0) / frames, 4),
        "publish_cpu_ms_per_frame": round(1000 * (c1 - c0) / frames, 4),
        "cpu_ms_per_frame": round(cpu_ms, 2),  # all threads of the process: decode, inference, tracking, MQTT
        "projected_streams_idle": round(_cores() * 1000 / cpu_ms / fps, 1),
        "events": service.outbox.last_seq + 1,
        "per_stream": per_stream,
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def table(results: list[dict[str, Any]]) -> str:
    lines = ["streams  fps each  processed fps total/slowest  dropped       sustained  publish ms/frame (cpu)  "
             "cpu ms/frame  streams if idle"]
    for r in results:
        lines.append(f"{r['streams']:>7}  {r['target_fps']:>8g}  {r['processed_fps_total']:>12.1f} / "
                     f"{r['min_stream_fps']:<13.1f}  {r['dropped']:>5} ({r['dropped_pct']:4.1f} %)  "
                     f"{'yes' if r['sustained'] else 'no':>9}  {r['publish_ms_per_frame']:>8.3f} "
                     f"({r['publish_cpu_ms_per_frame']:.3f})       {r['cpu_ms_per_frame']:>12.1f}  "
                     f"{r['projected_streams_idle']:>15.1f}")
    return "\n".join(lines)


def _crossing(i: int) -> Event:
    return Event("footfall.crossing", "bench", "bench", 0,
                 {"line": "door", "direction": "in", "track_id": i, "count_in": i, "count_out": 0}, camera="cam0")


def _drain(box: Outbox, port: int, timeout: float = 300.0) -> float:
    """Seconds until ``box`` is empty, publishing to 127.0.0.1:``port`` (QoS 1, unlimited rate)."""
    publisher = Publisher(MqttConfig(host="127.0.0.1", port=port, drain_rate=0, inflight=1000), "bench", "bench",
                          box)
    start = time.perf_counter()
    publisher.start()
    deadline = time.monotonic() + timeout
    while len(box) and time.monotonic() < deadline:
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    publisher.stop(flush_timeout=1)
    if len(box):
        raise RuntimeError(f"outbox not drained after {timeout} s ({len(box)} left)")
    return elapsed


def _one_run(folder: Path, port: int, events: int) -> dict[str, float]:
    box = Outbox(folder / "single.db")
    per_call = []
    for i in range(2000):  # one event per transaction, as a frame with one crossing does
        start = time.perf_counter()
        box.enqueue([_crossing(i)])
        per_call.append(time.perf_counter() - start)
    box.close()
    box = Outbox(folder / "backlog.db")
    start = time.perf_counter()
    for i in range(0, events, 100):
        box.enqueue([_crossing(i + k) for k in range(100)])
    enqueue_s = time.perf_counter() - start
    cpu = time.process_time()
    drain_s = _drain(box, port)
    drain_cpu_s = time.process_time() - cpu
    box.close()
    # Enqueue and drain together: a producer thread in batches of 10 while the publisher drains.
    box = Outbox(folder / "together.db")
    publisher = Publisher(MqttConfig(host="127.0.0.1", port=port, drain_rate=0, inflight=1000), "bench", "bench",
                          box)
    publisher.start()
    publisher.wait_connected(10)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, events, 10):
        box.enqueue([_crossing(i + k) for k in range(10)])
        publisher.notify()
    while len(box):
        time.sleep(0.002)
    together_s = time.perf_counter() - start
    together_cpu_s = time.process_time() - cpu
    publisher.stop(flush_timeout=1)
    box.close()
    return {
        "enqueue_single_us_median": 1e6 * statistics.median(per_call),
        "enqueue_single_us_p99": 1e6 * sorted(per_call)[int(0.99 * len(per_call))],
        "enqueue_batch100_per_s": events / enqueue_s,
        "drain_s": drain_s,
        "drain_per_s": events / drain_s,
        "together_per_s": events / together_s,
        "drain_per_cpu_s": events / drain_cpu_s,
        "together_per_cpu_s": events / together_cpu_s,
    }


def bench_outbox(events: int = 30_000, repeat: int = 3) -> dict[str, Any]:
    """Outbox figures against a private Mosquitto: medians of ``repeat`` runs (and every run)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = _start_broker(folder)
        if broker is None:
            raise RuntimeError("the outbox benchmark needs the mosquitto binary (apt-get install mosquitto)")
        port = broker.port
        try:
            runs = []
            for r in range(repeat):
                run_dir = folder / f"run{r}"
                run_dir.mkdir()
                runs.append(_one_run(run_dir, port, events))
        finally:
            broker.stop()
    medians = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
    return {"events": events, "repeat": repeat, "median": medians,
            "runs": [{k: round(v, 3) for k, v in run.items()} for run in runs]}


def outbox_table(result: dict[str, Any]) -> str:
    m = result["median"]
    return "\n".join([
        f"outbox benchmark, {result['events']} events, median of {result['repeat']} runs (QoS 1, local Mosquitto)",
        f"  enqueue, 1 event per transaction:   {m['enqueue_single_us_median']:.0f} us median, "
        f"{m['enqueue_single_us_p99']:.0f} us p99",
        f"  enqueue, batches of 100:            {m['enqueue_batch100_per_s']:.0f} events/s",
        f"  drain a {result['events']}-event backlog:      {m['drain_s']:.2f} s ({m['drain_per_s']:.0f} events/s)",
        f"  enqueue + drain together:           {m['together_per_s']:.0f} events/s",
        f"  per CPU-second of this process:     drain {m['drain_per_cpu_s']:.0f} events, enqueue + drain "
        f"{m['together_per_cpu_s']:.0f} events (what one idle core would do; Mosquitto's CPU not counted)",
    ])
