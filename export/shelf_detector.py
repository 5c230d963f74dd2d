"""Train the class-agnostic ``product`` + ``gap`` shelf detector (YOLO11n from scratch) on composed scenes.

``python -m export.shelf_detector --source ../shared/data/grocery-store --out build/shelf-detector`` composes
the scenes (:mod:`export.shelf_synth`), trains YOLO11n from ``yolo11n.yaml`` (random init: no pretrained weights
are downloaded) with ultralytics, offline, on the CPU, within a wall-time cap, and leaves ``best.pt``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from edge.models import Manifest
from export.shelf_synth import build_dataset
from export.yolo_eval import average_precision as average_precision  # re-exported
from export.yolo_eval import evaluate

log = logging.getLogger(__name__)


def offline_ultralytics(config_dir: Path) -> None:
    """Offline, no auto-install, and a local font in a private settings folder (ultralytics wants Arial.ttf)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (config_dir / name).exists():
            shutil.copy(font, config_dir / name)


def train(data_yaml: Path, out: Path, epochs: int, imgsz: int, hours: float, batch: int = 16,
          start: Path | None = None, name: str = "train") -> Path:
    """Train from scratch (or go on from ``start`` weights); returns the path of ``best.pt``."""
    offline_ultralytics(out / "ultralytics-config")
    from ultralytics import YOLO

    model = YOLO(str(start) if start else "yolo11n.yaml")
    model.train(
        data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, time=hours, device="cpu", workers=2,
        project=str(out.resolve()), name=name, exist_ok=True, seed=0, deterministic=True, plots=False,
        pretrained=start is not None, amp=False, patience=100, close_mosaic=3, fliplr=0.5,
        mosaic=0.5 if start else 1.0, scale=0.5, warmup_epochs=0 if start else 3,
    )
    best = out / name / "weights" / "best.pt"
    if not best.is_file():
        raise FileNotFoundError(f"training left no {best}")
    return best


SOURCE = ("YOLO11n (ultralytics yolo11n.yaml, random init) trained on shelf scenes composed by export/shelf_synth.py "
          "from the Grocery Store Dataset (github marcusklasson/GroceryStoreDataset, MIT): catalogue cut-outs and "
          "in-store photos of its train split on synthetic shelves")
DESCRIPTION = ("Class-agnostic shelf detector: 'product' (any packaged or loose item on a shelf) and 'gap' (empty "
               "shelf space). Metrics: mAP50 on 120 held-out composed scenes built from val-split photos "
               "(python -m export.shelf_detector). sku-projection.npz beside it: LDA projection of efficientnet-lite0 "
               "embeddings fitted on the train split (python -m export.sku_projection).")
COMMITTED = ("openvino", "onnx")  # INT8 files kept in git: training needs ../shared data and ~40 CPU minutes


def export_model(weights: Path, scenes: Path, folder: Path, imgsz: int = 320) -> Manifest:
    """Export FP32 + INT8 (OpenVINO, ONNX), measure mAP50 of each on the held-out scenes, keep the INT8 files
    outside ``build/`` (``folder/<format>-int8/``) and write the manifest listing them."""
    from export.int8_files import keep_int8
    from export.yolo import export

    result = export(weights, folder, formats=COMMITTED, precisions=("fp32", "int8"),
                    calib_sources=[scenes / "images" / "train"], imgsz=imgsz, calib_count=64, name="shelf-products",
                    origin=SOURCE, licence="AGPL-3.0 (ultralytics YOLO11 code/architecture); data: MIT (Grocery "
                    "Store Dataset)", description=DESCRIPTION)
    manifest = result.manifest
    manifest.save(folder / "model.yaml")  # lists the build/ files: evaluate the FP32 ones first
    fp32 = {f.engine: evaluate(folder, scenes, f.engine, "fp32")["mAP50"] for f in manifest.files
            if f.precision == "fp32"}
    manifest.files = keep_int8(folder, COMMITTED)
    manifest.save(folder / "model.yaml")
    for item in manifest.files:
        item.metrics = {**evaluate(folder, scenes, item.engine, "int8"), "fp32_mAP50": fp32[item.engine]}
    manifest.save(folder / "model.yaml")
    return manifest


def qualitative(model: str | Path, photos: list[Path], out: Path, width: int = 480) -> list[Path]:
    """Draw the INT8 OpenVINO detector's boxes (green: product, red: gap) on real photos; small JPEGs in ``out``."""
    import cv2

    from edge.detector import Detector

    detector = Detector.from_manifest(str(model), "openvino", "int8", conf=0.35)
    gap = detector.class_id("gap")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in photos:
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f"cannot read {path}")
        found = detector(image)
        for box, cls in zip(np.round(found.xyxy).astype(int), found.class_id, strict=True):
            colour = (0, 0, 255) if cls == gap else (0, 255, 0)
            cv2.rectangle(image, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), colour, 2)
        scale = width / image.shape[1]
        small = cv2.resize(image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        target = out / f"{path.stem}.jpg"
        cv2.imwrite(str(target), small, [cv2.IMWRITE_JPEG_QUALITY, 70])
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("../shared/data/grocery-store"))
    parser.add_argument("--out", type=Path, default=Path("build/shelf-detector"))
    parser.add_argument("--data", type=Path, default=None, help="existing data.yaml (skip composing scenes)")
    parser.add_argument("--train-scenes", type=int, default=500)
    parser.add_argument("--val-scenes", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--hours", type=float, default=0.6, help="wall-time cap of training")
    parser.add_argument("--weights", type=Path, help="export these trained weights instead of training")
    parser.add_argument("--continue-from", type=Path, help="go on training from these weights (a second stage)")
    parser.add_argument("--models", type=Path, default=Path("models/shelf-products"), help="model folder to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    data = args.data or build_dataset(args.source, args.out / "scenes", args.train_scenes, args.val_scenes, args.seed)
    weights = args.weights or train(data, args.out, args.epochs, args.imgsz, args.hours,
                                    start=args.continue_from, name="train2" if args.continue_from else "train")
    manifest = export_model(weights, data.parent, args.models, args.imgsz)
    print(manifest.model_dump_json(include={"name", "files"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
