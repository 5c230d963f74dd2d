"""Shadow mode on real models and a real video: the live person detector (OpenVINO FP16) and a candidate on the same
vtest.avi frames. The shipped ONNX Runtime INT8 file agrees with it; the same file at a very high threshold does not;
a model without persons is refused at load."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from contract.events import Event, validate
from edge.analytics.counting import PeopleCounter
from edge.config import ConfigError, EdgeConfig, parse_config
from edge.detect import read_frames
from edge.pipeline import Pipeline, load_pipeline
from edge.shadow import KIND, ShadowRunner, load_shadow
from edge.vision.detections import Detections
from tests.edge.test_model_versions import runnable

FRAMES = 120
LINE = [{"name": "door", "points": [[0, 300], [768, 300]]}]


def config(vtest: Path, **shadow: Any) -> EdgeConfig:
    camera = {"id": "entrance", "source": str(vtest), "fps": 10.0, "lines": LINE,
              "shadow": {"model": "person-ssdlite", "engine": "onnxruntime", "precision": "int8", **shadow}}
    return parse_config({"store": "s1", "device": "d1", "cameras": [camera],
                         "model": {"name": "person-ssdlite", "engine": "openvino", "precision": "fp16"}}, "edge.yaml")


@pytest.fixture(scope="module")
def live(vtest_video: Path) -> tuple[Pipeline, list[tuple[Any, Detections, list[Any]]]]:
    """The live pipeline and, per frame, the image, its detections and the live counter's crossings."""
    runnable("person-ssdlite", "openvino", "fp16")
    runnable("person-ssdlite", "onnxruntime", "int8")
    cfg = config(vtest_video)
    pipeline = load_pipeline(cfg)
    counter = PeopleCounter(cfg.cameras[0].counting(cfg.intervals_s), fps=10.0)
    frames = []
    for index, image in itertools.islice(read_frames(vtest_video), FRAMES):
        detections = pipeline.detector(image)
        frames.append((image, detections, counter.update(detections, 1.8e9 + index / 10).crossings))
    return pipeline, frames


def replay(runner: ShadowRunner, frames: list[tuple[Any, Detections, list[Any]]]) -> list[dict[str, Any]]:
    """Every frame through ``runner`` (10 fps of frame time); the data of the records it returned."""
    records = []
    for index, (image, detections, crossings) in enumerate(frames):
        records += runner.observe(image, 1.8e9 + index / 10, detections, crossings)
    records += runner.flush(1.8e9 + len(frames) / 10)
    for record in records:
        assert record.kind == KIND and record.model == runner.candidate
        validate(Event.from_record(record, "s1", "d1", "entrance").to_dict())  # envelope and model.shadow schema
    return [r.data for r in records]


def test_the_int8_candidate_agrees_with_the_live_model(live: tuple[Pipeline, list[Any]], vtest_video: Path) -> None:
    pipeline, frames = live
    cfg = config(vtest_video, every_n=1, interval_s=1000)
    runner = load_shadow(cfg.cameras[0], 0, pipeline.model, cfg.model.confidence, cfg.intervals_s)
    [data] = replay(runner, frames)
    assert data["frames"] == FRAMES and data["live_boxes"] == sum(len(d) for _, d, _ in frames)
    assert data["live_found"] >= 0.9 and data["candidate_found"] >= 0.9, data
    assert abs(data["count_diff_mean"]) <= 0.2 and data["count_abs_diff_mean"] <= 0.5, data
    assert pipeline.model is not None and data["live"] == pipeline.model.to_dict()
    assert data["candidate"]["sha256"] != data["live"]["sha256"]  # another file of the same model
    live_crossings = data["crossings"]["live"]
    assert live_crossings == {"in": sum(c.direction == "in" for _, _, cs in frames for c in cs),
                              "out": sum(c.direction == "out" for _, _, cs in frames for c in cs)}
    assert sum(live_crossings.values()) > 0
    assert abs(sum(data["crossings"]["candidate"].values()) - sum(live_crossings.values())) <= 2, data["crossings"]


def test_a_very_high_threshold_candidate_disagrees(live: tuple[Pipeline, list[Any]], vtest_video: Path) -> None:
    pipeline, frames = live
    cfg = config(vtest_video, every_n=1, interval_s=1000, confidence=0.95)
    [data] = replay(load_shadow(cfg.cameras[0], 0, pipeline.model, cfg.model.confidence, cfg.intervals_s), frames)
    assert data["live_found"] < 0.5 and data["count_diff_mean"] < -1.0, data  # it misses most people
    assert data["candidate_found"] >= 0.9, data  # what it still finds, the live model finds too


def test_every_nth_frame_and_one_record_per_interval(live: tuple[Pipeline, list[Any]], vtest_video: Path) -> None:
    pipeline, frames = live
    cfg = config(vtest_video, every_n=4, interval_s=3.0, count=False)
    runner = load_shadow(cfg.cameras[0], 0, pipeline.model, cfg.model.confidence, cfg.intervals_s)
    datas = replay(runner, frames)
    assert [d["frames"] for d in datas] == [8, 7, 8, 7]  # 12 s of frames at 10 fps: 30 frames of every 4th
    assert sum(d["frames"] for d in datas) == FRAMES // 4 and all(d["every_n"] == 4 for d in datas)
    assert all("crossings" not in d for d in datas)


def test_a_candidate_without_persons_or_that_cannot_load_is_a_config_error(vtest_video: Path) -> None:
    runnable("shelf-products", "onnxruntime", "int8")
    cfg = config(vtest_video, model="shelf-products")
    with pytest.raises(ConfigError, match=r"edge\.yaml: cameras\[0\]\.shadow: model='shelf-products'.*'person'"):
        load_shadow(cfg.cameras[0], 0, None, 0.4, [60], "edge.yaml")
    cfg = config(vtest_video, model="person-ssdlite", engine="litert", precision="fp16")
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.shadow: .*no litert/fp16 file"):
        load_shadow(cfg.cameras[0], 0, None, 0.4, [60], "edge.yaml")


def test_bench_shadow_measures_each_setting_and_refuses_a_bad_candidate(vtest_video: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import smartstore
    from tools.bench_shadow import bench_shadow

    runnable("person-ssdlite", "openvino", "fp16")
    runnable("person-ssdlite", "onnxruntime", "int8")
    live = {"name": "person-ssdlite", "engine": "openvino", "precision": "fp16"}
    candidate = {"model": "person-ssdlite", "engine": "onnxruntime", "precision": "int8"}
    report = bench_shadow(vtest_video, live, candidate, [2], frames=8, rounds=1)
    plain, shadowed = report["rows"]
    assert plain["every_n"] is None and plain["live_found"] is None and plain["wall_overhead_pct"] == 0.0
    assert shadowed["every_n"] == 2 and shadowed["live_found"] >= 0.8 and shadowed["cpu_ms_per_frame"] > 0
    code = smartstore.main(["bench", "--model", "person-ssdlite", "--engine", "openvino", "--precision", "fp16",
                            "--video", str(vtest_video), "--shadow", "shelf-products", "--rounds", "1"])
    assert code == 2 and "bench: cameras[0].shadow: model='shelf-products'" in capsys.readouterr().err
