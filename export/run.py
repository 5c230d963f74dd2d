"""The ``smartstore export ...`` and ``smartstore models pull`` workflows: export, gate, save, summarise.

Each returns the lines to print; errors a user can fix are :class:`export.common.ExportError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from export import dataset, gate
from export.common import PRECISIONS, parse_list
from export.formats import FILES, ExportResult


def _summary(result: ExportResult) -> list[str]:
    saved = result.manifest.save(result.out)
    lines = [f"{item.engine}/{item.precision}: {result.out / item.path}"
             + (f" {item.metrics}" if item.metrics else "") for item in result.manifest.files]
    kept = ", ".join(f"{k}: {v}" for k, v in result.kept.items())
    return [*lines, *([f"INT8 float regions: {kept}"] if kept else []), f"manifest: {saved}"]


def export_yolo(source: str, out: Path, formats: str, precisions: str, calib: Sequence[Path], val: Path | None,
                imgsz: int, calib_count: int, val_limit: int | None = None) -> list[str]:
    from export import yolo

    fmts = parse_list(formats, tuple(FILES), "format")
    precs = parse_list(precisions, PRECISIONS, "precision")
    if val is not None:
        dataset.load(val)  # a bad dataset fails before minutes of export
        if "int8" in precs and "fp32" not in precs:
            precs = ["fp32", *precs]  # the gate compares INT8 with FP32
    result = yolo.export(source, out, formats=fmts, precisions=precs, calib_sources=calib, imgsz=imgsz,
                         calib_count=calib_count)
    reports = gate.run(result, val, limit=val_limit) if val is not None else []
    return [*_summary(result), *(f"gate {r.line()}" for r in reports)]


def export_embedder(name: str, out: Path, formats: str, precisions: str, calib: Sequence[Path],
                    calib_count: int) -> list[str]:
    from export import embedder

    result = embedder.export(name, out, formats=parse_list(formats, tuple(FILES), "format"),
                             precisions=parse_list(precisions, PRECISIONS, "precision"), calib_sources=calib,
                             calib_count=calib_count)
    return _summary(result)


def train_and_export(data: Path, model: str, out: Path, runs: Path, epochs: int, imgsz: int, batch: int,
                     hours: float | None, formats: str, precisions: str, calib: Sequence[Path],
                     calib_count: int) -> list[str]:
    from export import train

    ds = dataset.load(data, need_train=True)
    parse_list(formats, tuple(FILES), "format")
    parse_list(precisions, PRECISIONS, "precision")
    best = train.train(data, model, runs / out.name, epochs=epochs, imgsz=imgsz, batch=batch, hours=hours)
    calib = list(calib) or [ds.train[0].parent]
    return [f"trained: {best}", *export_yolo(str(best), out, formats, precisions, calib, data, imgsz, calib_count)]


def pull(name: str, root: Path) -> list[str]:
    from export import pull as pulling

    paths, release = pulling.pull(name, root)
    return [*(str(p) for p in paths), f"licence: {release.licence}", f"next: {release.next_step}"]
