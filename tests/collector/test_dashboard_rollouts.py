"""The dashboard's roll-outs panel in real headless Chromium (Debian's package, driven by Playwright), served by
the real API (uvicorn) over a store holding two roll-outs: an admin token sees them and every device's state,
a click shows another roll-out, its Roll back button aborts it, a read:all token does not see the panel."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.api import create_app
from collector.auth import check_scopes, new_token, token_hash
from collector.fleet.api import collector_router
from collector.fleet.rollout import create_rollout, load_manifest
from collector.fleet.rollout_plan import RolloutSettings
from collector.fleet.rollout_store import RolloutStore
from collector.store import open_store
from tests.collector.test_dashboard import CHROMIUM, FLAGS
from tests.collector.test_fleet_rollout_api import signed_config
from tools.broker import free_port

ADMIN = "configured-admin-token-0123"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], RolloutStore]]:
    import uvicorn

    store = open_store(str(tmp_path / "c.db"))
    signed, manifest = load_manifest(signed_config(tmp_path))
    devices = [(f"store-{i % 3}", f"box-{i}") for i in range(12)]
    first = create_rollout(store, signed, manifest, devices, RolloutSettings.model_validate({}))
    rollouts = RolloutStore(store)
    rollouts.update(first, state="rolled_back", reason="store-1/box-4: fps 3.9 vs 9.8 before (-60%, limit -20%)")
    for d in rollouts.devices(first):
        if d["wave"] == 0:
            rollouts.set_device(first, d["store"], d["device"], state="rolled_back", reason="fps 3.9 vs 9.8")
    body = dict(signed["body"], version=5)
    settings = RolloutSettings.model_validate({}).model_dump()
    second = rollouts.create("config", "layout", 5, {**signed, "body": body}, settings,
                             [("store-0", "box-0", 0), ("store-1", "box-1", 1)])
    rollouts.set_device(second, "store-0", "box-0", state="healthy", reason="healthy for 61 s")
    tokens = {"read:all": new_token()}
    store.add_token("reader", check_scopes(["read:all"]), token_hash(tokens["read:all"]))
    port = free_port()
    app = create_app(store, ADMIN, routers=[collector_router(store)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/dashboard/", tokens, rollouts
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.mark.slow
def test_rollouts_panel_shows_every_device_state(served: tuple[str, dict[str, str], RolloutStore]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make test does this as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    url, tokens, rollouts = served
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}#token={ADMIN}")
        page.wait_for_selector("#rollouts:not([hidden]) #rollout-list tr[data-rollout]", timeout=30_000)
        listed = page.inner_text("#rollout-list")
        assert "config layout v5" in listed and "config layout v4" in listed and "rolled back" in listed
        assert "fps 3.9 vs 9.8 before" in listed
        # the newest roll-out is shown first: its two devices
        page.wait_for_function("document.querySelectorAll('#rollout-devices tr').length === 2", timeout=10_000)
        assert "Roll-out 2: layout v5, running" in page.inner_text("#rollout-title")
        first_rows = page.inner_text("#rollout-devices")
        assert "store-0 / box-0" in first_rows and "canary" in first_rows and "healthy" in first_rows
        page.click("#rollout-list tr[data-rollout='1']")
        page.wait_for_function("document.querySelectorAll('#rollout-devices tr').length === 12", timeout=10_000)
        devices = page.inner_text("#rollout-devices")
        assert devices.count("rolled back") == 1 and devices.count("pending") == 11
        shot: Any = page.screenshot(full_page=True)
        assert len(shot) > 20_000
        assert page.query_selector("#rollout-abort") is None  # rolled back already: nothing to roll back
        page.click("#rollout-list tr[data-rollout='2']")
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#rollout-abort")  # by hand, from the dashboard
        page.wait_for_function("document.getElementById('rollout-title').textContent.includes('rolling back')",
                               timeout=10_000)
        assert rollouts.get(2)["state"] == "rolling_back"  # type: ignore[index]

        reader = browser.new_page()
        reader.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        reader.goto(f"{url}#token={tokens['read:all']}")
        reader.wait_for_selector("#main:not([hidden])", timeout=30_000)
        reader.wait_for_timeout(1500)
        assert reader.eval_on_selector("#rollouts", "s => s.hidden") is True
        reader.wait_for_timeout(5500)  # one more poll: a refused token is not asked again
        browser.close()
    assert len(errors) == 1 and "403" in errors[0], errors  # the reader's one refused roll-out request
