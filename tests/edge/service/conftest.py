"""Brokers for the service tests: extra brokers on chosen ports or with extra configuration (auth, TLS)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.broker import LocalBroker as Mosquitto


def make_broker(workdir: Path, port: int | None = None, extra_conf: str = "") -> Mosquitto:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (make test installs it with apt-get when run as root)")
    return Mosquitto(workdir, port=port, extra_conf=extra_conf)
