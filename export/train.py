"""Thin, offline-safe wrapper over ultralytics training (a store's own YOLO-format data), on the CPU by default.

No weights are downloaded: ``--model yolo11n.yaml`` starts from random weights, ``--model WEIGHTS.pt`` fine-tunes
local weights; AMP checks (which fetch a model) and plots are off.
"""

from __future__ import annotations

from pathlib import Path

from export import dataset
from export.common import ExportError, configure_offline


def train(data: Path, model: str, out: Path, *, epochs: int = 50, imgsz: int = 640, batch: int = 16,
          hours: float | None = None, device: str = "cpu", workers: int = 2, seed: int = 0,
          patience: int = 100) -> Path:
    """Train and return the path of ``best.pt`` (under ``out/train/weights``)."""
    dataset.load(data, need_train=True)  # bad paths fail here, in one line, before ultralytics starts
    if not model.endswith((".yaml", ".yml", ".pt")):
        raise ExportError(f"model {model!r}: give an architecture (*.yaml, e.g. yolo11n.yaml) or weights (*.pt)")
    if model.endswith(".pt") and not Path(model).is_file():
        raise ExportError(f"weights file {model} does not exist")
    configure_offline()
    from ultralytics import YOLO

    try:
        yolo = YOLO(model)
    except (FileNotFoundError, KeyError) as exc:
        raise ExportError(f"unknown model {model!r}: {exc}") from None
    extra = {"time": hours} if hours else {}
    yolo.train(data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=workers, seed=seed,
               deterministic=True, project=str(out.resolve()), name="train", exist_ok=True, plots=False, amp=False,
               pretrained=model.endswith(".pt"), patience=patience, verbose=False, **extra)
    best = out / "train" / "weights" / "best.pt"
    if not best.is_file():
        raise ExportError(f"training left no {best}")
    return best
