"""MOTChallenge sequences (video + ``gt/gt.txt``) -> an ultralytics YOLO dataset of one class, ``person``.

Every ``val_every``-th annotated frame goes to ``val``, the rest to ``train``; boxes are clipped to the frame and
MOTChallenge rows with ``conf == 0`` (ignored regions) are dropped, as MOTChallenge does. Used to train the small
person detector that shows the INT8 accuracy gate on real annotations.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import yaml

from export.common import ExportError

Boxes = npt.NDArray[np.float32]


def load_mot_gt(path: Path) -> dict[int, Boxes]:
    """MOTChallenge ``gt.txt`` -> ``{frame (1-based): xyxy boxes}``."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    rows = rows[rows[:, 6] != 0]
    xyxy = np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], axis=1).astype(np.float32)
    frames = rows[:, 0].astype(int)
    return {int(f): xyxy[frames == f] for f in np.unique(frames)}


def convert(mot_root: Path, out: Path, val_every: int = 4) -> Path:
    """Write ``out/images/{train,val}``, ``out/labels/{train,val}`` and ``out/data.yaml``; returns the YAML path."""
    sequences = sorted(p for p in mot_root.iterdir() if (p / "gt" / "gt.txt").is_file()) if mot_root.is_dir() else []
    if not sequences:
        raise ExportError(f"{mot_root}: no MOTChallenge sequences (<name>/gt/gt.txt and <name>/<name>.mp4)")
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for seq in sequences:
        gt = load_mot_gt(seq / "gt" / "gt.txt")
        cap = cv2.VideoCapture(str(seq / f"{seq.name}.mp4"))
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            index += 1
            if index not in gt:
                continue
            split = "val" if index % val_every == 0 else "train"
            h, w = frame.shape[:2]
            boxes = np.clip(gt[index], 0, [w, h, w, h])
            boxes = boxes[(boxes[:, 2] - boxes[:, 0] > 2) & (boxes[:, 3] - boxes[:, 1] > 2)]
            cxcywh = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2 / w, (boxes[:, 1] + boxes[:, 3]) / 2 / h,
                               (boxes[:, 2] - boxes[:, 0]) / w, (boxes[:, 3] - boxes[:, 1]) / h], axis=1)
            stem = f"{seq.name}_{index:06d}"
            cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), frame)
            (out / "labels" / split / f"{stem}.txt").write_text(
                "".join(f"0 {a:.6f} {b:.6f} {c:.6f} {d:.6f}\n" for a, b, c, d in cxcywh))
        cap.release()
    data = out / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(out.resolve()), "train": "images/train", "val": "images/val",
                                    "names": {0: "person"}}, sort_keys=False))
    return data
