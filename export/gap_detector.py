"""Train YOLO11n to find empty shelf space (``gap``) on real shelf photos, resumably; ship it as ``models/shelf-gaps``.

``python -m export.gap_detector --source ../shared/data/shelf-gaps --out build/gap-detector --epochs 40 --hours 1``
splits the photos by name (:func:`split_of`: ``val`` is never trained or tuned on, ``tune`` picks the best epoch and
the score threshold, ``train`` is trained on), links them into ``<out>/dataset`` for ultralytics, trains YOLO11n from
``yolo11n.yaml`` (random init, seed 0) on the CPU and keeps ``<out>/train/weights/resume.pt`` after every epoch:
``--resume`` goes on from it (the same epoch schedule), ``--hours`` stops a session after the epoch that passes
it. Then it exports FP32 and INT8 (OpenVINO, ONNX), scores every file on ``val`` through the runtime detector and
writes the manifest with the INT8 files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

from edge.models import Manifest, sha256_file
from errors import SmartstoreError
from export.shelf_detector import offline_ultralytics

log = logging.getLogger(__name__)

SPLITS = ("train", "tune", "val")
LABELS = ["gap"]
FORMATS = ("openvino", "onnx")
CHECKPOINT_LIMIT = 12 * 2**20  # a resumable checkpoint is committed beside the model only below this size
WEIGHTS = "checkpoint/weights.pt"  # else the trained weights (no optimizer state): --init them to train on
SOURCE = ("YOLO11n (ultralytics yolo11n.yaml; {init}) trained by export/gap_detector.py on the 'train' "
          "split of shelf-gaps: SKU-110K supermarket shelf photos at 416x416 with hand-labelled empty spaces "
          "(github Munimul/ESD @ 0cf35f0f); split by name: sha256(stem) mod 5 == 0 'val' (never trained or tuned "
          "on), == 1 'tune' (best epoch, score threshold), else 'train'")
LICENCE = ("AGPL-3.0 (ultralytics YOLO11 code/architecture); weights trained on SKU-110K images (non-commercial "
           "research use; ESD labels: no licence stated): research and tests only, not for commercial deployment")


class GapDetectorError(SmartstoreError):
    """Bad input to the gap detector build (missing folder, no checkpoint to resume): reported as one line."""


def split_of(stem: str) -> str:
    """``val`` for sha256(stem) mod 5 == 0, ``tune`` for 1, else ``train``: fixed by the file name alone."""
    bucket = int(hashlib.sha256(stem.encode()).hexdigest(), 16) % 5
    return "val" if bucket == 0 else "tune" if bucket == 1 else "train"


def make_dataset(source: Path, out: Path) -> Path:
    """Symlink ``source/images/*.jpg`` and their labels into ``out/{images,labels}/<split>/``; the data yaml."""
    images = sorted((source / "images").glob("*.jpg"))
    if not images:
        raise GapDetectorError(f"no images under {source / 'images'} (give --source the shelf-gaps folder)")
    for kind in ("images", "labels"):
        for split in SPLITS:
            shutil.rmtree(out / kind / split, ignore_errors=True)
            (out / kind / split).mkdir(parents=True)
    for image in images:
        label = source / "labels" / f"{image.stem}.txt"
        if not label.is_file():
            raise GapDetectorError(f"{image.name} has no label file {label}")
        split = split_of(image.stem)
        (out / "images" / split / image.name).symlink_to(image.resolve())
        (out / "labels" / split / label.name).symlink_to(label.resolve())
    data = out / "data.yaml"
    data.write_text(json.dumps({"path": str(out.resolve()), "train": "images/train", "val": "images/tune",
                                "names": LABELS}))
    return data


def warm_start(init: str, dataset: Path, out: Path, imgsz: int) -> Path:
    """``init`` if it is ``*.pt`` weights, else an ultralytics checkpoint of shipped model ``init``'s ONNX weights,
    gap class only (``export.yolo_warmstart``), BatchNorm statistics from 64 ``train`` photos."""
    from edge.models import InputSpec
    from export import calib
    from export.yolo_warmstart import warm_start as convert

    if init.endswith(".pt"):
        if not Path(init).is_file():
            raise GapDetectorError(f"--init {init}: no such weights file")
        return Path(init)
    manifest = Manifest.load(init)
    onnx = next((f for f in manifest.files if f.engine == "onnxruntime"), None)
    if onnx is None or LABELS[0] not in manifest.labels:
        raise GapDetectorError(f"--init {init}: needs an ONNX file and a {LABELS[0]!r} class")
    spec = InputSpec(width=imgsz, height=imgsz, layout="NCHW", dtype="float32", color="RGB", resize="letterbox")
    images = calib.load([dataset / "images" / "train"], spec, 64)
    return convert(manifest.path_of(onnx), manifest.labels, LABELS, images, out / "warm-start.pt")


def train(data: Path, out: Path, epochs: int, hours: float | None = None, resume: bool = False, imgsz: int = 416,
          threads: int = 2, seed: int = 0, batch: int = 16, start: Path | None = None) -> Path:
    """Train from random init or ``start`` weights (or ``resume``) in ``out/train``; ``resume.pt`` is kept after every
    epoch. Returns ``best.pt``."""
    offline_ultralytics(out / "ultralytics-config")
    import torch
    from ultralytics import YOLO

    run = (out / "train").resolve()
    saved = run / "weights" / "resume.pt"
    if resume and not saved.is_file():
        raise GapDetectorError(f"--resume: no checkpoint {saved} (train once without --resume)")
    if not resume and saved.exists():
        raise GapDetectorError(f"{run} holds a training run: go on with --resume, or remove the folder")
    torch.set_num_threads(threads)
    run.mkdir(parents=True, exist_ok=True)
    first = torch.load(saved, weights_only=False)["epoch"] + 2 if resume else 1  # results.csv row of its first epoch
    with (run / "sessions.jsonl").open("a" if resume else "w") as sessions:
        sessions.write(json.dumps({"first_epoch": first, "threads": threads}) + "\n")
    model = YOLO(str(saved) if resume else str(start) if start else "yolo11n.yaml")
    started = time.monotonic()

    def keep(trainer: object) -> None:  # final_eval strips last.pt of its optimizer: keep a resumable copy
        shutil.copy(run / "weights" / "last.pt", saved)

    def cap(trainer: object) -> None:
        if hours and time.monotonic() - started > hours * 3600:
            trainer.stop = True  # type: ignore[attr-defined]

    model.add_callback("on_model_save", keep)
    model.add_callback("on_fit_epoch_end", cap)
    where = {"save_dir": str(run)} if resume else {"project": str(run.parent), "name": run.name, "exist_ok": True}
    model.train(data=str(data.resolve()), epochs=epochs, imgsz=imgsz, batch=batch, device="cpu", workers=0,
                seed=seed, deterministic=True, plots=False, pretrained=start is not None, amp=False, patience=epochs,
                warmup_epochs=1 if start else 3,
                close_mosaic=max(1, epochs // 10), resume=str(saved) if resume else False, **where)
    best = run / "weights" / "best.pt"
    if not best.is_file():
        raise GapDetectorError(f"training left no {best}")
    return best


def training_seconds(out: Path) -> float:
    """Wall seconds of the epochs in ``out/train/results.csv`` (train and validation): the ``time`` of each
    session's last epoch (its clock starts at 0; ``sessions.jsonl`` says where each session began, none: one)."""
    path, starts = out / "train" / "results.csv", out / "train" / "sessions.jsonl"
    rows = path.read_text().strip().splitlines()[1:] if path.is_file() else []
    times = {int(row.split(",")[0]): float(row.split(",")[1]) for row in rows}
    firsts = [json.loads(line)["first_epoch"] for line in starts.read_text().splitlines()] if starts.is_file() else [1]
    ends = [next_first - 1 for next_first in firsts[1:]] + [max(times, default=0)]
    return sum(times.get(end, 0.0) for end in ends)


def export_model(weights: Path, dataset: Path, folder: Path, imgsz: int, init: str) -> Manifest:
    """FP32 + INT8 files (OpenVINO, ONNX) in ``folder/build``, INT8 calibrated on ``train`` images."""
    from export.yolo import export

    result = export(weights, folder, formats=FORMATS, precisions=("fp32", "int8"),
                    calib_sources=[dataset / "images" / "train"], imgsz=imgsz, calib_count=64, name="shelf-gaps",
                    origin=SOURCE.format(init=init), licence=LICENCE)
    manifest = result.manifest
    manifest.save(folder / "model.yaml")  # lists the build/ files, FP32 included, until the INT8 ones are kept
    return manifest


Metrics = dict[tuple[str, str], dict[str, float]]  # per (engine, precision)


def score_files(folder: Path, dataset: Path, manifest: Manifest) -> tuple[float, Metrics]:
    """The score threshold (best F1 on ``tune``, ONNX Runtime INT8) and, per file, AP50, recall and precision at
    that threshold on ``val``."""
    from export.yolo_eval import average_precision, best_threshold, recall_precision, score

    tuned = score(folder, dataset, "tune", "onnxruntime", "int8")
    conf = best_threshold(tuned.pred[0], tuned.truth[0])
    metrics: Metrics = {}
    for item in manifest.files:
        scored = score(folder, dataset, "val", item.engine, item.precision)
        recall, precision = recall_precision(scored.pred[0], scored.truth[0], conf)
        metrics[(item.engine, item.precision)] = {
            "AP50_gap": round(average_precision(scored.pred[0], scored.truth[0]), 4),
            f"recall@{conf}": round(recall, 4), f"precision@{conf}": round(precision, 4)}
    return conf, metrics


def ship(weights: Path, dataset: Path, out: Path, folder: Path, imgsz: int, init: str) -> Manifest:
    """Export, score on ``val``, keep the INT8 files and write ``folder/model.yaml`` (and the checkpoint if small)."""
    return finish(export_model(weights, dataset, folder, imgsz, init), dataset, out, folder, imgsz, weights)


def finish(manifest: Manifest, dataset: Path, out: Path, folder: Path, imgsz: int, weights: Path) -> Manifest:
    """Score the exported files, keep the INT8 ones (and a small checkpoint) and write the final manifest."""
    from export.int8_files import keep_int8

    conf, metrics = score_files(folder, dataset, manifest)
    manifest.files = keep_int8(folder, FORMATS)
    for item in manifest.files:
        item.metrics = {**metrics[(item.engine, "int8")], "fp32_AP50_gap": metrics[(item.engine, "fp32")]["AP50_gap"]}
    checkpoint = out / "train" / "weights" / "resume.pt"
    kept = checkpoint.is_file() and checkpoint.stat().st_size < CHECKPOINT_LIMIT
    (folder / "checkpoint").mkdir(exist_ok=True)
    if kept:
        shutil.copy(checkpoint, folder / "checkpoint" / "last.pt")
    else:
        from ultralytics.utils.torch_utils import strip_optimizer

        strip_optimizer(weights, str(folder / WEIGHTS))
    results = out / "train" / "results.csv"
    epochs = len(results.read_text().strip().splitlines()) - 1 if results.is_file() else 0
    minutes = training_seconds(out) / 60
    manifest.description = (
        f"Empty shelf space ('gap') on real supermarket shelf photos, {imgsz}x{imgsz}; use it with --conf {conf} "
        f"(best F1 on 'tune'). Trained {epochs} epochs, {minutes:.0f} wall minutes on 2 shared CPU cores. Metrics on "
        f"the 'val' split (never trained or tuned on): AP50 of gaps at IoU 0.5, recall and precision at --conf {conf}, "
        "scored through the runtime detector (python -m export.gap_detector)."
        + (f" checkpoint/last.pt (sha256 {sha256_file(folder / 'checkpoint' / 'last.pt')}): the ultralytics training "
           "checkpoint (optimizer included); copy it to "
           "<out>/train/weights/resume.pt and run with --resume to train on." if kept else
           f" {WEIGHTS} (sha256 {sha256_file(folder / WEIGHTS)}): the trained weights; the resumable checkpoint "
           "(optimizer state, "
           f"{checkpoint.stat().st_size / 2**20:.0f} MB) is over {CHECKPOINT_LIMIT // 2**20} MB and not kept: "
           f"--init models/shelf-gaps/{WEIGHTS} trains on from the weights with a new schedule."))
    manifest.save(folder / "model.yaml")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("../shared/data/shelf-gaps"))
    parser.add_argument("--out", type=Path, default=Path("build/gap-detector"))
    parser.add_argument("--epochs", type=int, default=40, help="length of the learning-rate schedule")
    parser.add_argument("--hours", type=float, default=None, help="stop this session after the epoch passing it")
    parser.add_argument("--resume", action="store_true", help="go on from <out>/train/weights/resume.pt")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="start from *.pt weights or a shipped model's ONNX weights (shelf-products)")
    parser.add_argument("--weights", type=Path, help="export these trained weights instead of training")
    parser.add_argument("--no-export", action="store_true", help="train only")
    parser.add_argument("--models", type=Path, default=Path("models/shelf-gaps"), help="model folder to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    dataset = make_dataset(args.source, args.out / "dataset")
    training = args.init and not args.resume and not args.weights
    start = warm_start(args.init, dataset.parent, args.out, args.imgsz) if training else None
    weights = args.weights or train(dataset, args.out, args.epochs, args.hours, args.resume, args.imgsz,
                                    args.threads, args.seed, start=start)
    if not args.no_export:
        init = (f"warm-started from the weights of {args.init} (export/yolo_warmstart.py), seed {args.seed}"
                if args.init else f"random init, seed {args.seed}")
        print(ship(weights, dataset.parent, args.out, args.models, args.imgsz, init).model_dump_json(
            include={"name", "files"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
