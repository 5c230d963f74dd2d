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

from export.shelf_synth import build_dataset

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


def train(data_yaml: Path, out: Path, epochs: int, imgsz: int, hours: float, batch: int = 16) -> Path:
    """Train from scratch; returns the path of ``best.pt``."""
    offline_ultralytics(out / "ultralytics-config")
    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.train(
        data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, time=hours, device="cpu", workers=2,
        project=str(out.resolve()), name="train", exist_ok=True, seed=0, deterministic=True, plots=False,
        pretrained=False, amp=False, patience=100, close_mosaic=3, fliplr=0.5, mosaic=1.0, scale=0.5,
    )
    best = out / "train" / "weights" / "best.pt"
    if not best.is_file():
        raise FileNotFoundError(f"training left no {best}")
    return best


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    data = args.data or build_dataset(args.source, args.out / "scenes", args.train_scenes, args.val_scenes, args.seed)
    print(train(data, args.out, args.epochs, args.imgsz, args.hours))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
