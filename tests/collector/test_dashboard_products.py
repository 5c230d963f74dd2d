"""The dashboard's products panel (collector/web/products.js) in real headless Chromium (Debian's package, driven
by Playwright), served by the real API (uvicorn) over a store whose price list went through the real rules twice
(a markdown, then the next day's deeper cut held by the daily limit): the product table, a click on a product,
its price history (the step chart and every price with the rules' reasons), and its sentiment from reviews scored
by the shipped models on import (score, 95% interval, aspects, latest reviews, as the sentiment roll-up holds
them). The app is the one ``smartstore collector run`` assembles (:func:`collector.service.build_app`)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from collector.pricing.evaluate import evaluate_store
from collector.service import build_app
from collector.store import Store, open_store
from tests.collector.pricing_helpers import DAY, config, sales_rows, seeded
from tests.collector.test_dashboard import CHROMIUM, FLAGS
from tools.broker import free_port

ADMIN = "configured-admin-token-products"


def _priced(store: Store, tmp_path: Path) -> None:
    """Two evaluations with auto-approval: yoghurt -20% (two days to expiry), then the next day -50% wanted and
    0.56 allowed (30% a day from 0.80)."""
    start = time.time() - 1.2 * DAY
    book = seeded(store, start)
    store.import_sales(sales_rows("s1", "bread", start, 3, lambda i: 2))  # the store is known to the dashboard
    cfg = config(str(tmp_path / "c.db"), None, {"demand.enabled": False, "auto_approve": True})
    cfg.recommender.model = tmp_path / "none.npz"
    evaluate_store(store, "s1", cfg, start)
    yoghurt = book.product("s1", "yoghurt")
    assert yoghurt is not None
    book.upsert_products([replace(yoghurt, expiry=start + 1.6 * DAY)])
    evaluate_store(store, "s1", cfg, start + 1.1 * DAY)
    assert [round(p["price"], 2) for p in book.prices("s1", "yoghurt")] == [0.8, 0.56]


REVIEWS = ('id,sku,text\n'
           'r1,yoghurt,Tastes great and the price is fair\n'
           'r2,yoghurt,Too sour and the delivery was late\n'
           'r3,yoghurt,"Lovely taste, good quality"\n'
           'r4,milk,Arrived spoiled. Terrible quality\n')


def _reviewed(store: Store, tmp_path: Path) -> list[dict[str, Any]]:
    """Reviews scored by the shipped sentiment models (smartstore sentiment import's path); the roll-up."""
    from collector.sentiment import rollup
    from collector.sentiment.service import import_file

    (tmp_path / "reviews.csv").write_text(REVIEWS)
    import_file(tmp_path / "reviews.csv", "s1", store)
    return rollup.products(store, "s1")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    import uvicorn

    store = open_store(str(tmp_path / "c.db"))
    _priced(store, tmp_path)
    sentiment = _reviewed(store, tmp_path)
    port = free_port()
    cfg = config(str(tmp_path / "c.db"))
    cfg.api.token, cfg.recommender.model = ADMIN, tmp_path / "none.npz"
    app = build_app(store, cfg)  # every router collector run mounts (sentiment's too, once it registers)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/dashboard/", sentiment
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.mark.slow
def test_products_panel_shows_sentiment_and_price_history(served: tuple[str, list[dict[str, Any]]]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make test does this as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    url, sentiment = served
    yoghurt = next(s for s in sentiment if s["sku"] == "yoghurt")
    assert yoghurt["n"] == 3 and yoghurt["aspects"]
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 1400})

        def console(msg: Any) -> None:
            if msg.type == "error":
                errors.append(f"{msg.text} ({msg.location.get('url')})")

        page.on("console", console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}#token={ADMIN}")
        page.wait_for_selector("#products #product-list tr[data-sku='yoghurt']", timeout=30_000)
        listed = page.inner_text("#product-list")
        for text in ("milk", "Oat drink", "0.56 EUR", "-50% short date", "3.00 EUR"):
            assert text in listed, (text, listed)
        page.click("#product-list tr[data-sku='yoghurt']")
        page.wait_for_function("document.querySelectorAll('#price-history tr').length === 2 && "
                               "document.getElementById('history-title').textContent.includes('yoghurt')",
                               timeout=10_000)
        history = page.inner_text("#price-history")
        newest, oldest = history.splitlines()[0], history.splitlines()[-1]
        assert "0.56 EUR" in newest and "-50% of base" in newest and "limited to 30% a day from 0.80" in newest
        assert "0.80 EUR" in oldest and "-20% of base" in oldest and "approved by auto" in oldest
        assert page.locator("#price-chart circle.price-dot").count() == 2
        path = page.get_attribute("#price-chart path.price-line", "d") or ""
        assert path.startswith("M") and path.count("V") == 1  # one step down, from 0.80 to 0.56
        chart = page.text_content("#price-chart") or ""
        assert "base 1.00" in chart and "floor 0.40" in chart
        assert "Sentiment: yoghurt" in page.inner_text("#sentiment-title")
        page.wait_for_function("document.querySelectorAll('#review-list li').length === 3", timeout=10_000)
        row = page.inner_text("#product-list tr[data-sku='yoghurt']")
        shown = f"{yoghurt['score']:.2f} [{yoghurt['ci_low']:.2f}, {yoghurt['ci_high']:.2f}]"
        assert shown in row and "\t3\t" in row, row  # score, 95% interval, reviews
        summary = page.inner_text("#sentiment-summary")
        assert f"95% interval {yoghurt['ci_low']:.2f} to {yoghurt['ci_high']:.2f}, 3 reviews" in summary
        aspects = [line.split("\t") for line in page.inner_text("#aspect-list").splitlines()]
        assert [(a[0], int(a[1]), float(a[2])) for a in aspects] == [
            (a["aspect"], a["mentions"], round(a["polarity"], 2)) for a in yoghurt["aspects"]]
        assert "Tastes great and the price is fair" in page.inner_text("#review-list")
        milk = next(s for s in sentiment if s["sku"] == "milk")
        assert f"{milk['score']:.2f} [" in page.inner_text("#product-list tr[data-sku='milk']")
        assert page.locator("#product-list tr.selected").get_attribute("data-sku") == "yoghurt"
        shot: Any = page.screenshot(full_page=True)
        assert len(shot) > 20_000
        target = os.environ.get("SMARTSTORE_PRODUCTS_SCREENSHOT")
        if target:  # how docs/dashboard-products.png was made
            Path(target).write_bytes(shot)
        browser.close()
    assert errors == [], errors
