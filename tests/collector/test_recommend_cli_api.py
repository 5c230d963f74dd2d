"""``smartstore recommend fit|query`` and the basket/substitute API router on real bakery baskets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import smartstore
from collector.recommend.api import make_router


@pytest.fixture(scope="module")
def model_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = pd.read_csv(shared_data / "bakery" / "BreadBasket_DMS.csv")
    raw = raw[raw["Item"] != "NONE"]
    lines = pd.DataFrame({"transaction_id": raw["Transaction"], "item": raw["Item"],
                          "timestamp": raw["Date"].str[6:] + "-" + raw["Date"].str[3:5] + "-" + raw["Date"].str[:2]
                          + "T" + raw["Time"]})
    folder = tmp_path_factory.mktemp("rec")
    lines.to_csv(folder / "lines.csv", index=False)
    lines.head(12).to_csv(folder / "query.csv", index=False)
    assert smartstore.main(["recommend", "fit", "--transactions", str(folder / "lines.csv"),
                            "--out", str(folder / "model.npz")]) == 0
    return folder / "model.npz"


def test_query_basket_json(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = smartstore.main(["recommend", "query", "--model", str(model_file), "--basket", "Coffee,Toast,Nope",
                            "--k", "5", "--json"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1  # JSON lines: one object for the one basket
    res = json.loads(out[0])
    items = [r["item"] for r in res["recommendations"]]
    assert code == 0 and len(items) == 5 and "Coffee" not in items and "Toast" not in items
    assert res["unknown"] == ["Nope"] and "Bread" in items


def test_query_baskets_file_and_substitutes(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert smartstore.main(["recommend", "query", "--model", str(model_file),
                            "--baskets", str(model_file.parent / "query.csv"), "--k", "3", "--json"]) == 0
    res = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON lines: one per transaction
    assert len(res) == len(pd.read_csv(model_file.parent / "query.csv")["transaction_id"].unique())
    assert all(len(r["recommendations"]) == 3 for r in res)
    assert smartstore.main(["recommend", "query", "--model", str(model_file), "--substitutes", "Tea", "--k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "Tea" not in [line.split("\t")[0] for line in out]
    assert smartstore.main(["recommend", "query", "--model", str(model_file), "--substitutes", "Tea", "--k", "3",
                            "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and json.loads(out[0])["sku"] == "Tea" and len(json.loads(out[0])["substitutes"]) == 3


def test_fit_and_query_default_to_the_collectors_model_file(model_file: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Without --out / --model both use recommender.npz in the working directory, the collector's default
    ``recommender.model``."""
    monkeypatch.chdir(tmp_path)
    lines = model_file.parent / "query.csv"
    assert smartstore.main(["recommend", "fit", "--transactions", str(lines)]) == 0
    assert "model written to recommender.npz" in capsys.readouterr().out
    assert (tmp_path / "recommender.npz").is_file()
    assert smartstore.main(["recommend", "query", "--substitutes", "Coffee", "--k", "1"]) == 0


def test_query_errors(model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--model", str(tmp_path / "none.npz"), "--basket", "Coffee"], "no such model file"),
        (["--model", str(model_file), "--basket", " , "], "--basket is empty"),
        (["--model", str(model_file), "--basket", "Caviar"], "no item of the basket is known"),
        (["--model", str(model_file), "--substitutes", "Caviar"], "unknown SKU 'Caviar'"),
        (["--model", str(model_file), "--basket", "Coffee", "--at", "teatime"], "--at 'teatime'"),
    ]
    for args, message in cases:
        code = smartstore.main(["recommend", "query", *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_api_router(model_file: Path) -> None:
    app = FastAPI()
    app.include_router(make_router(model_file))
    client = TestClient(app)
    r = client.get("/baskets/recommendations", params={"items": "Coffee", "k": 4, "at": "2017-03-04T08:30"})
    assert r.status_code == 200 and len(r.json()["recommendations"]) == 4
    assert client.get("/substitutes/Tea", params={"k": 2}).json()["substitutes"][0]["item"] != "Tea"
    assert client.get("/substitutes/Caviar").status_code == 404
    assert client.get("/baskets/recommendations", params={"items": "Coffee", "at": "x"}).status_code == 422
