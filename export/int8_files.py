"""Keep a trained detector's INT8 files in git: copy them out of the git-ignored ``build/`` folder."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from edge.models import ModelFile
from export.build import file_entry
from export.common import FORMAT_ENGINES
from export.formats import FILES, rel


def keep_int8(folder: Path, formats: Sequence[str]) -> list[ModelFile]:
    """Copy ``folder/build/<format>-int8/`` files to ``folder/<format>-int8/``; their manifest entries."""
    files = []
    for fmt in formats:
        src, rel_dst = folder / rel(fmt, "int8"), Path(f"{fmt}-int8") / FILES[fmt]
        (folder / rel_dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, folder / rel_dst)
        extra = []
        if fmt == "openvino":
            shutil.copy(src.with_suffix(".bin"), (folder / rel_dst).with_suffix(".bin"))
            extra = [str(rel_dst.with_suffix(".bin"))]
        files.append(file_entry(folder, FORMAT_ENGINES[fmt], "int8", str(rel_dst), extra))
    return files
