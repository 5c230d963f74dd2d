"""export.gap_detector: the split by name, the ultralytics dataset, resumable training, the warm start from a
shipped ONNX file, and the shipped gap model scored on the real validation split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from export.gap_detector import GapDetectorError, make_dataset, split_of, train, training_seconds
from export.yolo_eval import best_threshold, recall_precision, yolo_labels
from tests.edge.models_fixtures import built_manifest, vtest_frames


def fake_source(root: Path, stems: list[str], size: int = 64) -> Path:
    """Photos (noise with a dark box) and YOLO labels of that box, named ``stems``."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem in stems:
        image = rng.integers(100, 255, (size, size, 3), dtype=np.uint8)
        image[16:32, 8:40] = 20
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), image)
        (root / "labels" / f"{stem}.txt").write_text("0 0.375 0.375 0.5 0.25\n")
    return root


def test_split_is_fixed_by_the_name_alone() -> None:
    assert [split_of(s) for s in ("image_1402", "image_1409", "a", "b")] == ["train", "val", "train", "val"]
    counts = Counter(split_of(f"image_{i}") for i in range(5000))
    assert 0.18 < counts["val"] / 5000 < 0.22 and 0.18 < counts["tune"] / 5000 < 0.22


def test_dataset_links_every_photo_into_its_split(tmp_path: Path) -> None:
    stems = [f"image_{i}" for i in range(20)]
    source = fake_source(tmp_path / "src", stems)
    for _ in range(2):  # a second run rebuilds the same links
        data = make_dataset(source, tmp_path / "dataset")
    config = json.loads(data.read_text())
    assert config == {"path": str((tmp_path / "dataset").resolve()), "train": "images/train", "val": "images/tune",
                      "names": ["gap"]}
    for stem in stems:
        split = split_of(stem)
        assert (tmp_path / "dataset" / "images" / split / f"{stem}.jpg").resolve() == \
            (source / "images" / f"{stem}.jpg").resolve()
        assert (tmp_path / "dataset" / "labels" / split / f"{stem}.txt").is_symlink()
    assert sum(len(list((tmp_path / "dataset" / "images" / s).iterdir())) for s in ("train", "tune", "val")) == 20


def test_dataset_refuses_missing_photos_and_labels(tmp_path: Path) -> None:
    with pytest.raises(GapDetectorError, match="no images under"):
        make_dataset(tmp_path, tmp_path / "dataset")
    source = fake_source(tmp_path / "src", ["a", "b"])
    (source / "labels" / "b.txt").unlink()
    with pytest.raises(GapDetectorError, match=r"b\.jpg has no label file"):
        make_dataset(source, tmp_path / "dataset")


def test_yolo_labels_are_pixel_boxes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("0 0.5 0.25 0.2 0.1\n1 0.1 0.1 0.2 0.2\n")
    (tmp_path / "empty.txt").write_text("")
    classes, boxes = yolo_labels(tmp_path / "a.txt", 400, 200)
    assert classes.tolist() == [0, 1]
    assert boxes.tolist() == [[160, 40, 240, 60], [0, 0, 80, 40]]
    assert yolo_labels(tmp_path / "empty.txt", 10, 10)[1].shape == (0, 4)
    assert yolo_labels(tmp_path / "missing.txt", 10, 10)[1].shape == (0, 4)


def test_recall_and_threshold_count_one_to_one_matches() -> None:
    truth = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)]
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    pred = [(boxes, np.array([0.9, 0.8, 0.3], np.float32))]
    assert recall_precision(pred, truth, 0.5) == (0.5, 0.5)  # the duplicate is a false positive
    assert recall_precision(pred, truth, 0.95)[0] == 0.0
    assert best_threshold(pred, truth, (0.5, 0.85)) == 0.85  # one hit, no false positive: the best F1


def test_training_seconds_add_up_the_sessions(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    rows = ["epoch,time,loss", "1,100,0", "2,210,0", "3,300,0", "4,520,0"]  # resumed after epoch 2
    (tmp_path / "train" / "results.csv").write_text("\n".join(rows) + "\n")
    assert training_seconds(tmp_path) == 520  # no sessions.jsonl: one session
    (tmp_path / "train" / "sessions.jsonl").write_text('{"first_epoch": 1}\n{"first_epoch": 3}\n')
    assert training_seconds(tmp_path) == 210 + 520
    assert training_seconds(tmp_path / "none") == 0


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    with pytest.raises(GapDetectorError, match="no checkpoint"):
        train(tmp_path / "data.yaml", tmp_path, epochs=2, resume=True)


@pytest.mark.slow
def test_training_stops_at_the_wall_cap_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    import torch

    data = make_dataset(fake_source(tmp_path / "src", [f"image_{i}" for i in range(12)]), tmp_path / "dataset")
    train(data, tmp_path, epochs=2, hours=1e-9, imgsz=64, threads=1, batch=4)  # stops after its first epoch
    resume = tmp_path / "train" / "weights" / "resume.pt"
    assert torch.load(resume, weights_only=False)["epoch"] == 0
    with pytest.raises(GapDetectorError, match="holds a training run"):
        train(data, tmp_path, epochs=2, imgsz=64)
    best = train(data, tmp_path, epochs=2, resume=True, imgsz=64, threads=1, batch=4)
    assert best.is_file()
    assert torch.load(resume, weights_only=False)["epoch"] == 1
    rows = (tmp_path / "train" / "results.csv").read_text().strip().splitlines()
    assert [int(float(r.split(",")[0])) for r in rows[1:]] == [1, 2]
    times = [float(r.split(",")[1]) for r in rows[1:]]
    assert training_seconds(tmp_path) == pytest.approx(sum(times))  # two sessions of one epoch each


@pytest.mark.slow
def test_warm_start_reproduces_the_shipped_onnx_detector(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    import onnxruntime as ort
    import torch

    from edge.vision.preprocess import fit, to_tensor
    from export.common import configure_offline
    from export.yolo_warmstart import warm_start

    manifest = built_manifest("shelf-products")
    onnx = manifest.path_of(manifest.select("onnxruntime", "int8"))
    spec = manifest.input
    images = np.concatenate([to_tensor(fit(f, spec)[0], spec) for f in vtest_frames([0, 100, 200, 300])])
    configure_offline()
    dst = warm_start(onnx, manifest.labels, ["gap"], images, tmp_path / "warm.pt")
    model = torch.load(dst, weights_only=False)["model"].eval()
    assert model.names == {0: "gap"}
    with torch.no_grad():
        ours = model(torch.from_numpy(images[:2]))[0].numpy()
    session = ort.InferenceSession(str(onnx))
    theirs = np.concatenate([session.run(None, {session.get_inputs()[0].name: images[i:i + 1]})[0] for i in (0, 1)])
    gap = 4 + manifest.labels.index("gap")
    assert ours.shape == (2, 5, theirs.shape[2])
    assert np.corrcoef(ours[:, 4].ravel(), theirs[:, gap].ravel())[0, 1] > 0.97  # INT8 activations differ a little
    assert np.corrcoef(ours[:, :4].ravel(), theirs[:, :4].ravel())[0, 1] > 0.995  # boxes, pixels


def test_shipped_gap_model_on_the_validation_split(shared_data: Path, tmp_path: Path) -> None:
    from export.yolo_eval import average_precision, score

    manifest = built_manifest("shelf-gaps")
    dataset = make_dataset(shared_data / "shelf-gaps", tmp_path / "dataset").parent
    assert len(list((dataset / "images" / "val").iterdir())) == 114
    item = manifest.select("onnxruntime", "int8")
    scored = score("shelf-gaps", dataset, "val", "onnxruntime", "int8")
    ap = average_precision(scored.pred[0], scored.truth[0])
    assert sum(len(t) for t in scored.truth[0]) == 682
    assert ap == pytest.approx(item.metrics["AP50_gap"], abs=0.01)
    assert ap > 2 * 0.055  # the composed-scene shelf-products detector scores 0.055 on real shelves
