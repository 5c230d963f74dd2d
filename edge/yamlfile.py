"""Reading YAML files (configs, manifests) with one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The mapping at the top of YAML file ``path``; an unreadable file, bad YAML or another top-level type raises
    ``error`` with a one-line message naming the file (``what`` names the kind of file, e.g. ``"manifest"``)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: a {what} must be a mapping, got {type(data).__name__}")
    return data
