"""systemd/install.sh staged into a temporary root (--root): layout, idempotence, config kept, --uninstall."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import load_config

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "systemd" / "install.sh"
# what setup.cfg packages (tools/ stays out: the wheel must work without it)
PACKAGE_FILES = ("smartstore.py", "errors.py", "setup.cfg", "pyproject.toml", "README.md", "contract", "common", "edge",
                 "hardware", "collector", "export")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as a wheel, built offline from a copy (so no build/ appears in the working tree)."""
    src = tmp_path_factory.mktemp("src")
    for name in PACKAGE_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out), str(src)], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel offline here: {proc.stderr.strip()[-300:]}")
    return next(out.glob("smartstore-*.whl"))


def install(root: Path, source: Path, wheel: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(INSTALL), "--root", str(root), "--source", str(source), "--package", str(wheel),
                           "--pip-args", "--no-deps --no-index", "--no-start", *extra],
                          capture_output=True, text=True, timeout=300)


def test_staged_install_is_idempotent_and_uninstalls(tmp_path: Path, wheel: Path) -> None:
    source = tmp_path / "checkout"
    for example in ("edge/examples/edge.yaml", "collector/examples/collector.yaml"):
        (source / example).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / example, source / example)
    (source / "models/tiny").mkdir(parents=True)
    (source / "models/tiny/model.yaml").write_text("name: tiny\n")
    root = tmp_path / "root"
    root.mkdir()

    first = install(root, source, wheel, "--collector")
    assert first.returncode == 0, first.stderr
    command = root / "opt/smartstore/venv/bin/smartstore"
    assert command.exists()
    for unit in ("smartstore-edge.service", "smartstore-collector.service"):
        assert (root / "etc/systemd/system" / unit).read_text() == (REPO / "systemd" / unit).read_text()
        assert f"(staged, not run) systemctl enable {unit}" in first.stdout
    assert (root / "opt/smartstore/models/tiny/model.yaml").read_text() == "name: tiny\n"
    config = root / "etc/smartstore/edge.yaml"
    assert config.read_text() == (REPO / "edge/examples/edge.yaml").read_text()
    collector_config = root / "etc/smartstore/collector.yaml"
    assert collector_config.read_text() == (REPO / "collector/examples/collector.yaml").read_text()
    assert load_config(collector_config).api.host == "127.0.0.1"  # the example is a valid, loopback-only config
    help_text = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and "smartstore" in help_text.stdout, help_text.stderr

    config.write_text(config.read_text().replace("store: store-001", "store: my-shop"))
    second = install(root, source, wheel, "--collector")
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout  # the venv and user already exist
    assert "store: my-shop" in config.read_text()  # the operator's edit survives an upgrade
    assert (root / "etc/smartstore/edge.yaml.dist").exists()  # and the new example sits beside it

    removed = subprocess.run(["sh", str(INSTALL), "--root", str(root), "--uninstall"], capture_output=True,
                             text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert not (root / "opt/smartstore").exists()
    assert not list((root / "etc/systemd/system").glob("smartstore-*"))
    assert config.exists()
    purged = subprocess.run(["sh", str(INSTALL), "--root", str(root), "--uninstall", "--purge"],
                            capture_output=True, text=True, timeout=60)
    assert purged.returncode == 0 and not (root / "etc/smartstore").exists()


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    for args, message in [(["--frobnicate"], "unknown option --frobnicate"),
                          (["--root", str(tmp_path / "nope")], "--root"),
                          (["--root", str(tmp_path), "--source", str(tmp_path / "gone")], "no such directory"),
                          (["--root", str(tmp_path), "--no-edge"], "nothing to install")]:
        proc = subprocess.run(["sh", str(INSTALL), *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("smartstore-install: error")
