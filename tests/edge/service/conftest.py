"""Brokers for the service tests: like the shared ``broker`` fixture, but able to read root-owned files.

Run as root, Mosquitto drops to the ``mosquitto`` user and then cannot write its persistence file or read
password/TLS files in pytest's private (0700) temporary folders; ``user root`` keeps it as root there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mosquitto import Mosquitto

ROOT_CONF = "user root\n" if os.geteuid() == 0 else ""


def make_broker(workdir: Path, port: int | None = None, extra_conf: str = "") -> Mosquitto:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (make test installs it with apt-get when run as root)")
    return Mosquitto(workdir, port=port, extra_conf=ROOT_CONF + extra_conf)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A persistent Mosquitto on a free loopback port, stopped afterwards."""
    instance = make_broker(tmp_path / "mosquitto")
    instance.start()
    yield instance
    instance.stop()
