"""``smartstore collector ...`` from the command line: happy path and one-line errors naming the problem."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from collector.service import SMARTSTORE

REPO = Path(__file__).resolve().parents[2]


def smartstore(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMARTSTORE, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env)


def test_import_sales_reports_new_and_known_lines(tmp_path: Path) -> None:
    csv = tmp_path / "pos.csv"
    csv.write_text("store,receipt,sku,qty,price,timestamp\ns1,r1,milk,2,0.99,2026-11-02T10:00:00Z\n"
                   "s1,r1,bread,1,1.50,2026-11-02T10:00:00Z\n")
    db = str(tmp_path / "c.db")
    first = smartstore("collector", "import-sales", str(csv), "--db", db)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{csv}: 2 sale lines read, 2 new, 0 already stored"
    assert "2 already stored" in smartstore("collector", "import-sales", str(csv), "--db", db).stdout


@pytest.mark.parametrize(("args", "config", "message"), [
    (["--broker", "nonsense"], None, "--broker 'nonsense': expected HOST:PORT"),
    ([], "ingest:\n  batch_size: 0\n",
     "field 'ingest.batch_size': Input should be greater than or equal to 1 (value 0)"),
    ([], "mqtt:\n  colour: blue\n", "field 'mqtt.colour': Extra inputs are not permitted (value 'blue')"),
    ([], "- a list\n", "the top level must be a mapping, not list"),
    ([], "", "the API needs a token"),
    (["--no-api", "--db", "postgresql://postgres:secret@127.0.0.1:1/test"], None,
     "cannot open the store 127.0.0.1:1/test: connection failed"),
])
def test_run_errors_are_one_line(tmp_path: Path, args: list[str], config: str | None, message: str) -> None:
    extra = list(args)
    if config is not None:
        (tmp_path / "c.yaml").write_text(config)
        extra += ["--config", str(tmp_path / "c.yaml")]
    env = {k: v for k, v in os.environ.items() if k != "SMARTSTORE_COLLECTOR_TOKEN"}
    result = smartstore("collector", "run", "--db", str(tmp_path / "c.db"), *extra, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("smartstore: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("content", [None, b"", b"PK\x03\x04 cut short"])
def test_run_refuses_a_missing_or_corrupt_recommender_model(tmp_path: Path, content: bytes | None) -> None:
    model = tmp_path / "rec.npz"
    if content is not None:
        model.write_bytes(content)
    (tmp_path / "c.yaml").write_text(f"recommender:\n  model: {model}\n")
    result = smartstore("collector", "run", "--db", str(tmp_path / "c.db"), "--config", str(tmp_path / "c.yaml"),
                        "--token", "a-token-of-16-chars")
    assert result.returncode == 2
    reason = "no such model file" if content is None else "not a smartstore recommender model"
    assert result.stderr.startswith(f"smartstore: error: recommender.model: {model}: {reason}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "c.db").exists()  # refused before opening the store or the broker
