"""The one local Mosquitto on a free loopback port: for ``smartstore demo``, ``smartstore bench``/``bench-collector``,
the scripts in ``tools/bench/`` and the tests (which stop and restart it by PID). It runs the shipped broker settings
(``systemd/mosquitto/smartstore.conf``: persistence, autosave, queue limits) plus a loopback listener and a
persistence folder of its own; ``shipped=False`` gives a bare broker (no persistence), as the service benchmarks use.
Where no ``mosquitto`` binary exists, :mod:`tools.embedded_broker` is the pure-Python fallback of the demo."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

#: The broker settings the delivery guarantees need, as shipped for production (docs/collector.md, "Broker").
SHIPPED_CONF = Path(__file__).resolve().parent.parent / "systemd" / "mosquitto" / "smartstore.conf"
#: Where the shipped file is absent (an installed wheel without the checkout): the same essentials.
FALLBACK_CONF = "persistence true\nautosave_interval 30\nmax_queued_messages 1000000\nmax_inflight_messages 0\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def shipped_settings() -> str:
    """The shipped Mosquitto settings (comments dropped), or the fallback essentials."""
    try:
        text = SHIPPED_CONF.read_text()
    except OSError:
        return FALLBACK_CONF
    return "".join(line + "\n" for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


class LocalBroker:
    """One Mosquitto process with the shipped settings on a loopback port (what a collector needs)."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "", shipped: bool = True) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed: apt-get install mosquitto (make demo does this)")
        self.binary = binary
        self.port = port or free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            (shipped_settings() if shipped else "")
            + f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            + (f"persistence_location {workdir.resolve()}/\n" if shipped else "") + "log_dest none\n"
            # As root, mosquitto drops to the 'mosquitto' user, which cannot write into private (0700) work dirs.
            + ("user root\n" if os.geteuid() == 0 else "")
            + extra_conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> LocalBroker:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with status {self.proc.returncode} (config {self.conf})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
