"""What shadow mode costs (``smartstore bench --shadow CANDIDATE``): the frame loop's per-frame work without a shadow
and with a candidate on every Nth frame, on the same decoded frames held in memory.

Per frame, as in :meth:`edge.service.EdgeService._process`: the live detector, the live people counter (tracker,
lines, zones) and, with a shadow, :meth:`edge.shadow.ShadowRunner.observe` (the candidate on every Nth frame, box
matching, the candidate's own tracker and lines). Each setting runs ``rounds`` times, interleaved with the others so
that they share the machine's load alike; the figures are medians over rounds of wall time and of process CPU time
(all threads: inference runs on engine threads) per frame, and the overhead over no shadow. Agreement figures come
from the last round of each setting (``model.shadow`` data).
"""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from edge.analytics.counting import PeopleCounter
from edge.config import EdgeConfig, parse_config
from edge.detect import read_frames
from edge.pipeline import Pipeline, load_pipeline
from edge.shadow import ShadowRunner, load_shadow

LINES = [{"name": "door", "points": [[0, 300], [768, 300]]}]
ZONES = [{"name": "plaza", "polygon": [[100, 100], [668, 100], [668, 500], [100, 500]]}]


def _config(video: Path, live: dict[str, Any], shadow: dict[str, Any] | None) -> EdgeConfig:
    camera: dict[str, Any] = {"id": "bench", "source": str(video), "fps": 10.0, "lines": LINES, "zones": ZONES}
    if shadow is not None:
        camera["shadow"] = shadow
    return parse_config({"store": "bench", "device": "bench", "cameras": [camera], "model": live}, "bench")


def _round(pipeline: Pipeline, config: EdgeConfig, frames: list[Any], runner: ShadowRunner | None
           ) -> tuple[float, float, dict[str, Any] | None]:
    """(wall ms, CPU ms) per frame over ``frames``, and the shadow's data over them."""
    counter = PeopleCounter(config.cameras[0].counting(config.intervals_s), fps=10.0)
    wall, cpu = time.perf_counter(), time.process_time()
    records = []
    for index, image in enumerate(frames):
        detections = pipeline.detector(image)
        result = counter.update(detections, index / 10)
        if runner is not None:
            records += runner.observe(image, index / 10, detections, result.crossings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if runner is not None:
        records += runner.flush(len(frames) / 10)
    return 1000 * wall / len(frames), 1000 * cpu / len(frames), records[-1].data if records else None


def bench_shadow(video: Path, live: dict[str, Any], candidate: dict[str, Any], every: list[int],
                 frames: int = 200, rounds: int = 3) -> dict[str, Any]:
    """``live``: the ``model`` section (name, engine, precision); ``candidate``: the ``shadow`` section without
    ``every_n``; ``every``: the every_n settings to measure beside no shadow."""
    images = [image for _, image in itertools.islice(read_frames(video), frames)]
    if not images:
        raise ValueError(f"{video}: no frames")
    base = _config(video, live, None)
    pipeline = load_pipeline(base, "bench")
    settings: dict[int, EdgeConfig] = {0: base}
    settings.update({n: _config(video, live, {**candidate, "every_n": n, "interval_s": 1e9}) for n in every})
    walls: dict[int, list[float]] = {n: [] for n in settings}
    cpus: dict[int, list[float]] = {n: [] for n in settings}
    agreement: dict[int, dict[str, Any] | None] = {}
    first = settings[every[0]]  # a candidate that cannot load fails now, not after the first round
    load_shadow(first.cameras[0], 0, pipeline.model, first.model.confidence, first.intervals_s, "bench")
    for _ in range(rounds):
        for n, config in settings.items():
            runner = None if n == 0 else load_shadow(config.cameras[0], 0, pipeline.model, config.model.confidence,
                                                     config.intervals_s, "bench")
            wall, cpu, agreement[n] = _round(pipeline, config, images, runner)
            walls[n].append(wall)
            cpus[n].append(cpu)
    plain_wall, plain_cpu = statistics.median(walls[0]), statistics.median(cpus[0])
    rows = []
    for n in settings:
        wall, cpu = statistics.median(walls[n]), statistics.median(cpus[n])
        data = agreement.get(n) or {}
        rows.append({"every_n": n or None, "wall_ms_per_frame": round(wall, 2), "cpu_ms_per_frame": round(cpu, 2),
                     "wall_overhead_pct": round(100 * (wall / plain_wall - 1), 1),
                     "cpu_overhead_pct": round(100 * (cpu / plain_cpu - 1), 1),
                     **{k: data.get(k) for k in ("live_found", "candidate_found", "count_diff_mean", "candidate_ms")}})
    return {"video": str(video), "frames": len(images), "rounds": rounds, "live": live,
            "candidate": candidate, "live_model": pipeline.model and pipeline.model.to_dict(), "rows": rows}


def table(report: dict[str, Any]) -> str:
    live, cand = report["live"], report["candidate"]
    head = (f"live {live['name']} {live.get('engine')}/{live.get('precision')}, candidate {cand['model']} "
            f"{cand.get('engine')}/{cand.get('precision')} {cand.get('options') or ''}, {report['frames']} frames of "
            f"{report['video']}, "
            f"median of {report['rounds']} rounds")
    lines = [head, f"{'shadow':<10} {'wall ms/frame':>13} {'cpu ms/frame':>12} {'wall +%':>8} {'cpu +%':>7} "
             f"{'live_found':>10} {'cand_found':>10}"]
    for row in report["rows"]:
        name = "none" if row["every_n"] is None else f"every {row['every_n']}"
        found = [("-" if row[k] is None else f"{row[k]:.3f}") for k in ("live_found", "candidate_found")]
        lines.append(f"{name:<10} {row['wall_ms_per_frame']:>13} {row['cpu_ms_per_frame']:>12} "
                     f"{row['wall_overhead_pct']:>8} {row['cpu_overhead_pct']:>7} {found[0]:>10} {found[1]:>10}")
    return "\n".join(lines)
