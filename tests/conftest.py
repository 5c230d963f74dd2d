"""Shared fixtures: a real Mosquitto on a free port, the shared data sets (skipped cleanly when absent)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.broker import LocalBroker as Mosquitto

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SMARTSTORE_SHARED_DATA", REPO.parent / "shared" / "data"))
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto broker of the test's own, on a free loopback port; stopped afterwards."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (make test installs it with apt-get when run as root)")
    instance = Mosquitto(tmp_path / "mosquitto")
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests using it skip where it is absent (a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data set not present at {SHARED_DATA} (development data, not shipped)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def vtest_video() -> Path:
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing: apt-get install opencv-doc (make test does this as root)")
    return VTEST
