"""Shelf pipeline and SKU commands with the real INT8 models on real product photos (Grocery Store Dataset)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.analytics.shelf_config import ShelfConfig
from edge.analytics.sku import Embedder, Gallery, default_projection, enroll_folder, load_projection
from edge.models import Manifest, ModelError
from edge.shelf_loader import load_shelf_pipeline
from export.shelf_synth import PRODUCT, Composer, list_sources, scene_rng

ULTRALYTICS_ASSETS = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages" / "ultralytics" / "assets"
SMARTSTORE = str(Path(sys.executable).parent / "smartstore")
SKUS = ["Oatly-Oat-Milk", "Arla-Standard-Milk", "Bravo-Apple-Juice", "Tropicana-Apple-Juice", "Yellow-Onion",
        "Banana", "Red-Bell-Pepper", "Granny-Smith", "Alpro-Fresh-Soy-Milk", "Arla-Sour-Cream"]


def _ready(name: str) -> None:
    try:
        manifest = Manifest.load(name)
        manifest.verify_file(manifest.select("openvino", "int8"))
    except ModelError as exc:
        pytest.skip(f"model {name} not built ({exc}); run: smartstore models build {name}")


@pytest.fixture(scope="module")
def models() -> None:
    for name in ("efficientnet-lite0", "shelf-products", "person-ssdlite"):
        _ready(name)


@pytest.fixture(scope="module")
def embedder(models: None) -> Embedder:
    return Embedder("efficientnet-lite0", "openvino", "int8")


def _folder_of(root: Path, split: str, sku: str) -> Path:
    return next(p for p in (root / split).rglob(sku) if p.is_dir())


@pytest.fixture(scope="module")
def gallery_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five train photos per SKU for ten SKUs, as DIR/<SKU>/*.jpg (links to the shared data)."""
    root = tmp_path_factory.mktemp("gallery")
    for sku in SKUS:
        (root / sku).mkdir()
        for photo in sorted(_folder_of(shared_data / "grocery-store", "train", sku).glob("*.jpg"))[:5]:
            (root / sku / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="module")
def gallery(gallery_dir: Path, embedder: Embedder) -> Gallery:
    return enroll_folder(gallery_dir, embedder)


def test_enrolling_a_new_sku_is_fast_and_recognises_it(gallery: Gallery, embedder: Embedder,
                                                       shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "grocery-store"
    new = "Zucchini"
    photos = sorted(_folder_of(data, "train", new).glob("*.jpg"))[:3]
    embedder.embed_files(photos[:1])  # warm the engine: the timing below is enrolment, not model loading
    start = time.perf_counter()
    gallery.enroll(new, embedder.embed_files(photos))
    per_image = (time.perf_counter() - start) / len(photos)
    assert per_image < 1.0, f"enrolment took {per_image:.2f} s per image"
    val = sorted(_folder_of(data, "val", new).glob("*.jpg"))
    assert val
    hits = [m.top[0][0] == new for m in gallery.match(embedder.embed_files(val))]
    assert np.mean(hits) >= 0.5, f"new SKU recognised in {np.mean(hits):.0%} of its val photos"


def test_sku_commands_enroll_identify_and_refuse_bad_galleries(models: None, gallery_dir: Path, shared_data: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "g.npz"
    run = subprocess.run([SMARTSTORE, "sku", "enroll", str(gallery_dir), "--out", str(out)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr
    # the default: the shipped projection, stored in the gallery, with its cross-validated threshold
    assert "10 SKUs, 50 images" in run.stdout and "cross-validated with the projection" in run.stdout
    (_, matrix), _, threshold = load_projection(default_projection())
    saved = Gallery.load(out)
    assert saved.projection is not None and np.array_equal(saved.projection[1], matrix)
    assert saved.threshold == pytest.approx(threshold)
    raw = tmp_path / "raw.npz"
    run = subprocess.run([SMARTSTORE, "sku", "enroll", str(gallery_dir), "--out", str(raw), "--projection", "none"],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0 and "calibrated on 50 images" in run.stdout, run.stderr
    assert Gallery.load(raw).projection is None
    photo = sorted(_folder_of(shared_data / "grocery-store", "val", "Banana").glob("*.jpg"))[0]
    run = subprocess.run([SMARTSTORE, "sku", "identify", str(photo), "--gallery", str(out),
                          "--k", "3", "--json"], capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert len(answer["top"]) == 3 and answer["top"][0]["sku"] == "Banana"
    bad = tmp_path / "bad.npz"
    bad.write_bytes(out.read_bytes()[:100])
    run = subprocess.run([SMARTSTORE, "sku", "identify", str(photo), "--gallery", str(bad)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 2 and run.stderr.startswith(f"smartstore: error: gallery {bad} is corrupt")
    assert len(run.stderr.strip().splitlines()) == 1


def _shelf_scene(data: Path, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    iconic, photos = list_sources(data, "val")
    composer = Composer([cv2.imread(str(p)) for p in iconic], [cv2.imread(str(p)) for p in photos[::10]], size)
    image, items = composer.compose(scene_rng(5, "val", 0))
    assert sum(i.cls == PRODUCT for i in items) >= 20
    return image


def _grid(rows: int = 2, cols: int = 4, size: tuple[int, int] = (1280, 720), **extra: object) -> dict:
    w, h = size[0] / cols, size[1] / rows
    return {"shelf": "test", **extra, "rows": [{"name": f"r{r}", "slots": [
        {"name": f"s{r}{c}", "sku": SKUS[(r * cols + c) % len(SKUS)],
         "polygon": [[c * w, r * h], [(c + 1) * w, r * h], [(c + 1) * w, (r + 1) * h], [c * w, (r + 1) * h]]}
        for c in range(cols)]} for r in range(rows)]}


def test_pipeline_caches_static_products_and_marks_person_occlusion(gallery: Gallery, shared_data: Path) -> None:
    scene = _shelf_scene(shared_data / "grocery-store")
    pipeline = load_shelf_pipeline(ShelfConfig.model_validate(_grid()), gallery=gallery)
    first = pipeline(scene, 0.0)
    assert len(first.products) >= 10 and first.embedded == len(first.products)
    noisy = np.clip(scene + np.random.default_rng(0).normal(0, 2, scene.shape), 0, 255).astype(np.uint8)
    second = pipeline(noisy, 0.1)
    assert second.embedded <= 0.2 * len(second.products)  # a static shelf is not embedded again
    # a real person (ultralytics' bus.jpg) steps in front of the left half of the shelf
    person = cv2.imread(str(ULTRALYTICS_ASSETS / "bus.jpg"))[230:900, 20:260]
    occluded = scene.copy()
    occluded[20:700, 60:300] = cv2.resize(person, (240, 680))
    states = {v.slot: v.state for v in pipeline(occluded, 0.2).frame.slots}
    assert states["s00"] == "occluded" and states["s10"] == "occluded"
    assert "occluded" not in {states[s] for s in ("s03", "s13")}


def test_shelf_command_reports_state_and_refuses_unknown_planogram_sku(gallery: Gallery, shared_data: Path,
                                                                      tmp_path: Path) -> None:
    image = tmp_path / "shelf.jpg"
    cv2.imwrite(str(image), _shelf_scene(shared_data / "grocery-store"))
    gallery.save(tmp_path / "g.npz")
    config = tmp_path / "shelf.yaml"
    config.write_text(yaml.safe_dump(_grid(gallery="g.npz")))
    annotated = tmp_path / "annotated.jpg"
    run = subprocess.run([SMARTSTORE, "shelf", str(image), "--config", str(config), "--json",
                          "--save-video", str(annotated)], capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = json.loads(run.stdout)
    assert len(frame["slots"]) == 8 and frame["embedded"] >= 10
    assert sum(sum(c.values()) for c in frame["facings"].values()) >= 10
    assert cv2.imread(str(annotated)).shape == (720, 1280, 3)
    assert [e["kind"] for e in frame["events"]] == ["shelf.snapshot"]
    bad = _grid(gallery="g.npz")
    bad["rows"][0]["slots"][1]["sku"] = "Moon-Cheese"
    config.write_text(yaml.safe_dump(bad))
    run = subprocess.run([SMARTSTORE, "shelf", str(image), "--config", str(config)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 2
    assert "rows[0].slots[1].sku: unknown SKU 'Moon-Cheese' (slot 's01')" in run.stderr


def test_missing_gallery_is_a_clear_error(models: None, tmp_path: Path) -> None:
    config = tmp_path / "shelf.yaml"
    config.write_text(yaml.safe_dump(_grid(gallery="nope.npz")))
    image = tmp_path / "x.jpg"
    cv2.imwrite(str(image), np.zeros((720, 1280, 3), np.uint8))
    run = subprocess.run([SMARTSTORE, "shelf", str(image), "--config", str(config)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 2 and "nope.npz does not exist" in run.stderr
