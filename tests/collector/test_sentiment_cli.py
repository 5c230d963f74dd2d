"""``smartstore sentiment score|fit|import`` through the real command: scores with the shipped models, language
per row, fitting a model that the score command then uses, the import into a SQLite store (a review id stored once),
and one-line errors for bad files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collector.service import SMARTSTORE
from collector.store import open_store

REVIEWS = [("a", "Absolutely love this dress, the fabric is soft and it fits perfectly."),
           ("b", "Terrible quality, the seams ripped after one wash. Returning it."),
           ("c", "质量很好，物流也快，非常满意"),
           ("d", "太差了，尺码偏小，客服态度也不好，不会再买"),
           ("e", "")]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMARTSTORE, "sentiment", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    pd.DataFrame(REVIEWS, columns=["id", "text"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("method", ["learned", "lexicon"])
def test_score_labels_both_languages(reviews_csv: Path, tmp_path: Path, method: str) -> None:
    out = tmp_path / "out.csv"
    done = run("score", str(reviews_csv), "--out", str(out), "--method", method)
    assert done.returncode == 0, done.stderr
    assert "en 3, zh 2" in done.stdout
    scored = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)
    assert list(scored.columns) == ["id", "label", "score"]
    assert scored["id"].tolist() == ["a", "b", "c", "d", "e"]
    assert scored["label"].tolist()[:4] == ["positive", "negative", "positive", "negative"]
    assert scored["score"].between(0, 1).all()
    assert ((scored["score"] >= 0.5) == (scored["label"] == "positive")).all()


def test_forced_language_changes_the_scorer(reviews_csv: Path, tmp_path: Path) -> None:
    auto, forced = tmp_path / "auto.csv", tmp_path / "forced.csv"
    assert run("score", str(reviews_csv), "--out", str(auto)).returncode == 0
    assert run("score", str(reviews_csv), "--out", str(forced), "--lang", "zh").returncode == 0
    a, f = pd.read_csv(auto), pd.read_csv(forced)
    assert (a["score"][2:4] == f["score"][2:4]).all()  # Chinese rows: the same model either way
    assert (a["score"][:2] != f["score"][:2]).all()  # English rows through the Chinese model: other scores


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"id,text\n", "no reviews"),
    (b"id,body\n1,nice\n", "missing column text"),
    (b"id,text\n1,\xff\xfe bad\n", "not UTF-8"),
])
def test_bad_files_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path / "bad.csv", content)
    done = run("score", str(path), "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(path) in done.stderr


def test_missing_file_and_bad_model_folder(reviews_csv: Path, tmp_path: Path) -> None:
    done = run("score", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2 and "no such file" in done.stderr
    (tmp_path / "models").mkdir()
    write(tmp_path / "models" / "en.npz", b"not a model")
    done = run("score", str(reviews_csv), "--out", str(tmp_path / "o.csv"), "--models", str(tmp_path / "models"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "not a smartstore sentiment model" in done.stderr or "no such sentiment model" in done.stderr


def test_fit_then_score_with_the_fitted_model(tmp_path: Path) -> None:
    good = ["great {} and lovely colour", "perfect {} , I love it", "soft {} , highly recommend", "beautiful {}"]
    bad = ["awful {} , returned it", "cheap {} that ripped", "the {} is a disappointment", "poor {} , never again"]
    items = ["dress", "top", "skirt", "sweater", "jacket", "blouse", "coat", "scarf"]
    rows = [(t.format(i), "positive") for t in good for i in items] + [(t.format(i), "negative") for t in bad
                                                                       for i in items]
    data = tmp_path / "labelled.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(data, index=False)
    models = tmp_path / "models"
    done = run("fit", "--data", str(data), "--lang", "en", "--out", str(models / "en.npz"))
    assert done.returncode == 0, done.stderr
    assert "fitted on 64 reviews" in done.stdout
    inp = write(tmp_path / "in.csv", "id,text\n1,a lovely soft dress\n2,an awful cheap coat\n")
    out = tmp_path / "out.csv"
    assert run("score", str(inp), "--out", str(out), "--models", str(models), "--lang", "en").returncode == 0
    assert pd.read_csv(out)["label"].tolist() == ["positive", "negative"]
    labels = write(tmp_path / "bad-labels.csv", "text,label\nnice,maybe\n")
    done = run("fit", "--data", str(labels), "--lang", "en", "--out", str(models / "x.npz"))
    assert done.returncode == 2 and "label: value 'maybe'" in done.stderr


def test_import_scores_and_stores_each_review_once(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    path = write(tmp_path / "reviews.csv", "id,sku,text,rating,ts\n"
                 "r1,tea,Lovely flavour and a fair price,5,2026-11-30T10:00:00\n"
                 "r2,tea,Stale and tasteless. Awful.,1,1796000000\n"
                 "r1,tea,a second copy of r1,5,\n"
                 "r3,milk,牛奶很新鲜，味道好,,\n")
    done = run("import", str(path), "--store", "s1", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "4 reviews read, 3 new" in done.stdout
    again = run("import", str(path), "--store", "s1", "--db", str(db))
    assert "0 new" in again.stdout and "4 already stored" in again.stdout
    store = open_store(str(db))
    try:
        rows = {r["id"]: r for r in store.rows("SELECT id, sku, text, rating, lang, label, ts FROM reviews")}
    finally:
        store.close()
    assert set(rows) == {"r1", "r2", "r3"} and rows["r1"]["text"].startswith("Lovely")
    assert [rows[k]["label"] for k in ("r1", "r2", "r3")] == ["positive", "negative", "positive"]
    assert rows["r3"]["lang"] == "zh" and rows["r3"]["rating"] is None and rows["r2"]["ts"] == 1796000000


@pytest.mark.parametrize(("content", "message"), [
    ("id,text\nr1,nice\n", "missing column sku"),
    ("id,sku,text,rating\nr1,tea,nice,five\n", "line 2: rating 'five' is not a number"),
    ("id,sku,text,ts\nr1,tea,nice,yesterday\n", "line 2: ts 'yesterday'"),
    ("id,sku,text\nr1,,nice\n", "line 2: id, sku and text must not be empty"),
])
def test_import_errors_are_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "r.csv", content)
    done = run("import", str(path), "--store", "s1", "--db", str(tmp_path / "c.db"))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c.db").exists()  # the file is checked before the store is opened


def test_fit_with_domains_round_trips(tmp_path: Path) -> None:
    """A file with a ``cat`` column gives a domain-augmented model: its domains are kept in the file, the
    domain classifier picks them for new texts, and the loaded model scores as the fitted one."""
    from collector.sentiment.datasets import load_labelled
    from collector.sentiment.fit import fit
    from collector.sentiment.model import SentimentModel

    phrases = {("酒店", "1"): ["房间很大", "很干净", "床很舒服", "前台热情"],
               ("酒店", "0"): ["房间太小", "很吵", "床很硬", "前台冷淡"],
               ("手机", "1"): ["机身小巧", "很轻便", "屏幕清晰", "电池耐用"],
               ("手机", "0"): ["机身太大", "很笨重", "屏幕模糊", "电池不行"]}
    endings = ["，满意", "，推荐", "！", "，会再来", "。"]
    rows = [(a + "，" + b + end, label, cat) for (cat, label), words in phrases.items() for a in words for b in words
            if a != b for end in endings[:2]]
    data = tmp_path / "zh.csv"
    pd.DataFrame(rows, columns=["text", "label", "cat"]).to_csv(data, index=False)
    model, _ = fit(load_labelled(data), "zh")
    assert model.domains is not None and model.domains.names == ["手机", "酒店"]
    texts = ["房间很大，床很舒服", "房间太小，很吵", "机身小巧，屏幕清晰", "机身太大，很笨重"]
    rows_, idx, w = model.blocks[0].tfidf(texts)
    picked, _ = model.domains.logits(rows_, idx, w, len(texts))
    assert [model.domains.names[d] for d in picked] == ["酒店", "酒店", "手机", "手机"]
    assert (model.predict(texts) >= 0.5).tolist() == [True, False, True, False]
    back = SentimentModel.load(model.save(tmp_path / "zh.npz"))
    assert back.domains is not None and back.domains.names == model.domains.names
    assert np.allclose(back.predict(texts), model.predict(texts), atol=1e-3)  # domain weights kept as float16
