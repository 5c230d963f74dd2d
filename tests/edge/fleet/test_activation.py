"""A kill -9 at every step of an activation leaves the box on the old or the new version, whole, never neither;
the next try finishes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contract.commands import Manifest
from edge.bundles import BundleStore
from tests.edge.fleet.helpers import BundleServer, Fleet

REPO = Path(__file__).resolve().parents[3]
CHILD = """
import json, sys, time
from pathlib import Path
from contract.commands import Manifest
from edge.bundles import BundleStore

root, stop_at, signed_path = sys.argv[1:4]
signed = json.loads(Path(signed_path).read_text())

def step(name):
    print(name, flush=True)
    if name == stop_at:
        time.sleep(60)  # killed here

manifest = Manifest.from_body(signed["body"])
store = BundleStore(Path(root), step=step)
store.install(signed, manifest, timeout=5)
store.activate(manifest.name, manifest.version)
print("done", flush=True)
"""


def _activate(root: Path, signed_path: Path, stop_at: str) -> list[str]:
    """Run an activation in a child process; kill -9 it when it reports ``stop_at``; the steps it reported."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), stop_at, str(signed_path)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    steps = []
    for line in child.stdout:
        steps.append(line.strip())
        if steps[-1] == stop_at:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(30)
    return steps


def _usable(store: BundleStore, version: int, signed: dict[str, object]) -> None:
    store.verify("m", version, Manifest.from_body(signed["body"]))  # type: ignore[arg-type]
    assert (store.current_dir("m") / "model.yaml").read_text() == f"name: m\nversion: {version}\n"  # type: ignore[operator]


@pytest.mark.parametrize("stop_at", ["verified", "installed", "linked", "activated"])
def test_kill_9_during_activation(fleet: Fleet, server: BundleServer, tmp_path: Path, stop_at: str) -> None:
    store = fleet.channel.bundles
    v1, v2 = fleet.bundle(server, 1), fleet.bundle(server, 2)
    store.install(v1, Manifest.from_body(v1["body"]))
    store.activate("m", 1)
    signed_path = tmp_path / "v2.json"
    signed_path.write_text(json.dumps(v2))
    steps = _activate(store.root, signed_path, stop_at)
    assert steps[-1] == stop_at
    current = store.current("m")
    assert current == (2 if stop_at == "activated" else 1)
    _usable(store, current, v2 if current == 2 else v1)
    assert 1 in store.versions("m")  # the old version stays for rollback
    assert _activate(store.root, signed_path, "never")[-1] == "done"  # the next try completes it
    assert store.current("m") == 2
    _usable(store, 2, v2)
