"""Defaults that work: a minimal ``edge.yaml`` (store, device, one camera, mqtt) runs the shipped person model on
the file ``engine: auto`` picks; a model mistake is one line naming the file, field and value, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.edge.service.helpers import REPO, SMARTSTORE, Subscriber, write_clip
from tools.broker import LocalBroker as Mosquitto

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_clip(vtest_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(vtest_video, tmp_path_factory.mktemp("video") / "short.avi", 30)


def edge(config: dict[str, object], folder: Path, command: str = "run") -> subprocess.CompletedProcess[str]:
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([str(SMARTSTORE), "edge", command, "--config", str(path), "--broker-timeout", "5"]
                          if command == "check" else [str(SMARTSTORE), "edge", command, "--config", str(path)],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env=os.environ | {"STATE_DIRECTORY": str(folder)})


def test_a_minimal_config_runs_with_defaults(broker: Mosquitto, short_clip: Path, tmp_path: Path) -> None:
    from tests.edge.models_fixtures import built_manifest

    built_manifest("person-ssdlite")
    minimal = {"store": "s1", "device": "d1", "cameras": [{"id": "door", "source": str(short_clip)}],
               "mqtt": {"host": "127.0.0.1", "port": broker.port}}
    subscriber = Subscriber(broker.port)
    try:
        result = edge(minimal, tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        logs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        stopped = next(e for e in logs if e["msg"] == "service stopped")
        assert stopped["outbox_pending"] == 0
        assert (tmp_path / "outbox.db").is_file()  # $STATE_DIRECTORY, as systemd's StateDirectory= sets it
        assert subscriber.wait_for(lambda s: [st for st, _ in s.statuses() if st.get("state") == "offline"], 20)
    finally:
        subscriber.close()


@pytest.mark.parametrize(("model", "field"), [
    ({"name": "no-such-model"}, "model.name='no-such-model': unknown model 'no-such-model'"),
    ({"name": "person-ssdlite", "engine": "litert", "precision": "fp16"}, "engine='litert', precision='fp16'"),
])
def test_a_model_mistake_is_one_line_and_exit_2(short_clip: Path, tmp_path: Path, model: dict[str, str],
                                                 field: str) -> None:
    config = {"store": "s1", "device": "d1", "cameras": [{"id": "door", "source": str(short_clip)}],
              "mqtt": {"host": "127.0.0.1", "port": 1}, "model": model}
    result = edge(config, tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"smartstore: error: {tmp_path / 'edge.yaml'}: ") and field in line, line
    checked = edge(config, tmp_path, "check")
    assert checked.returncode == 1 and f"FAIL model: {tmp_path / 'edge.yaml'}: " in checked.stdout
