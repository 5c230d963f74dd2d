"""Fixtures for the fleet tests: a fleet (keys, bundle folder, channel) and a local bundle server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.fleet.helpers import BundleServer, Fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    (tmp_path / "box").mkdir()
    return Fleet(tmp_path / "box")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BundleServer]:
    (tmp_path / "www").mkdir()
    instance = BundleServer(tmp_path / "www")
    yield instance
    instance.close()
