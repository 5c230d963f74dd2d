"""The INT8 accuracy gate: validate FP32 and INT8 per engine on the same data; mixed precision when INT8 loses.

An INT8 file may lose at most ``MAX_LOSS`` (1 point) of mAP50-95 against the FP32 file of the same engine. When it
loses more, it is re-quantised keeping the next, larger part of the graph in float (e.g. the whole detection head);
when even the largest step loses too much, the export fails and says so. Every validated file's metrics go into
its manifest entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from export import validate
from export.common import ExportError
from export.formats import ExportResult, variant

log = logging.getLogger(__name__)

MAX_LOSS = 0.01


@dataclass
class GateReport:
    engine: str
    fp32: dict[str, float]
    int8: dict[str, float]
    kept: str  # the mixed-precision level the INT8 file passed with

    @property
    def loss(self) -> float:
        return self.fp32["mAP50-95"] - self.int8["mAP50-95"]

    def line(self) -> str:
        return (f"{self.engine}: FP32 mAP50 {self.fp32['mAP50']:.3f} mAP50-95 {self.fp32['mAP50-95']:.3f}; INT8 "
                f"mAP50 {self.int8['mAP50']:.3f} mAP50-95 {self.int8['mAP50-95']:.3f} (loss {100 * self.loss:.2f} "
                f"points, float kept: {self.kept})")


def _metrics(result: ExportResult, engine: str, precision: str, data: Path, limit: int | None) -> dict[str, float]:
    metrics = validate.validate(result.out, engine, precision, data, limit=limit)
    for item in result.manifest.files:
        if (item.engine, item.precision) == (engine, precision):
            item.metrics = {k: v for k, v in metrics.items() if k.startswith("mAP")}
    result.manifest.save(result.out)
    return metrics


def run(result: ExportResult, data: Path, limit: int | None = None, max_loss: float = MAX_LOSS) -> list[GateReport]:
    """Validate every file; re-quantise INT8 files that lose more than ``max_loss``; raise when that fails."""
    result.manifest.save(result.out)
    reports = []
    variants = {(f.engine, f.precision) for f in result.manifest.files}
    for engine, fmt in result.formats.items():
        if (engine, "fp32") not in variants:
            continue
        fp32 = _metrics(result, engine, "fp32", data, limit)
        if (engine, "fp16") in variants:
            _metrics(result, engine, "fp16", data, limit)
        if (engine, "int8") not in variants:
            continue
        level = next(i for i, lv in enumerate(result.levels) if lv.level == result.kept[f"{engine}/int8"])
        int8 = _metrics(result, engine, "int8", data, limit)
        while fp32["mAP50-95"] - int8["mAP50-95"] > max_loss and level + 1 < len(result.levels):
            level += 1
            log.warning("%s INT8 loses %.2f points mAP50-95: re-quantising with %s in float", engine,
                        100 * (fp32["mAP50-95"] - int8["mAP50-95"]), result.levels[level].level)
            variant(result, fmt, "int8", result.levels[level])
            result.manifest.save(result.out)
            int8 = _metrics(result, engine, "int8", data, limit)
        report = GateReport(engine, fp32, int8, result.levels[level].level)
        reports.append(report)
        if report.loss > max_loss:
            raise ExportError(f"accuracy gate: {report.line()}: more than {100 * max_loss:g} point(s) lost even with "
                              f"the largest float region; ship FP32/FP16 for {engine} or calibrate on more images")
    return reports
