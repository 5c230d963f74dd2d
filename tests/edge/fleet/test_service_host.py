"""apply_config on a real EdgeService (not running its cameras): the SIGHUP reload path takes the lines, a tracker
change gets a new tracker, what a command may not change is refused, and the active signed config is applied again
when the service starts."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from contract.signing import public_line, sign_bundle
from edge.config import parse_config
from edge.fleet_host import ServiceHost
from edge.service import EdgeService
from tests.edge.fleet.helpers import Fleet

LINE = [{"name": "door", "points": [[0, 100], [200, 100]]}]


def _service(tmp_path: Path, fleet: Fleet) -> EdgeService:
    (tmp_path / "fleet.pub").write_text(public_line(fleet.key.public_key()) + "\n")
    config = parse_config({"store": "s1", "device": "d1", "cameras": [{"id": "cam1", "source": "none.mp4"}],
                           "outbox": {"path": str(tmp_path / "outbox.db")},
                           "fleet": {"public_keys": str(tmp_path / "fleet.pub")}})
    service = EdgeService(config)
    service._build_counters()
    return service


def _on_main_thread(host: ServiceHost, fn: Any) -> Any:
    """Run ``fn`` on a worker thread (as the command worker does) while this thread plays the frame loop."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(_capture(fn)))
    worker.start()
    while worker.is_alive():
        host.calls.run_pending()
        worker.join(0.01)
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _capture(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # handed back to the test thread
        return exc


def test_apply_config_on_the_service(tmp_path: Path, fleet: Fleet) -> None:
    service = _service(tmp_path, fleet)
    host = service.fleet
    assert host is not None and host.channel is not None
    try:
        before = service.counters["cam1"]
        assert _on_main_thread(host, lambda: host.apply_config({"cameras": {"cam1": {"lines": LINE}}})) == ["cam1"]
        assert [line.name for line in service.counters["cam1"].lines] == ["door"]
        assert service.counters["cam1"].tracker is before.tracker  # lines only: the tracks stay
        tracker = {"cameras": {"cam1": {"tracker": {"high_thresh": 0.6}}}}
        assert _on_main_thread(host, lambda: host.apply_config(tracker)) == ["cam1"]
        assert service.counters["cam1"].tracker is not before.tracker
        assert service.config.cameras[0].tracker.high_thresh == 0.6
        for bad, reason in (({"mqtt": {}}, "only cameras and model"), ({"cameras": {"x": {}}}, "no camera 'x'"),
                            ({"cameras": {"cam1": {"source": 0}}}, "not ['source']"),
                            ({"cameras": {"cam1": {"lines": [{"name": "a b"}]}}}, "cameras[0].lines")):
            with pytest.raises(ValueError, match=reason.replace("[", r"\[").replace("]", r"\]")):
                _on_main_thread(host, lambda bad=bad: host.apply_config(bad))
    finally:
        host.stop()
        service.outbox.close()


def test_the_active_config_bundle_is_applied_at_start(tmp_path: Path, fleet: Fleet) -> None:
    service = _service(tmp_path, fleet)
    assert service.fleet is not None and service.fleet.channel is not None
    channel = service.fleet.channel
    signed = sign_bundle(fleet.key, "layout", 1, config={"cameras": {"cam1": {"lines": LINE}}})
    try:
        _on_main_thread(service.fleet, lambda: channel._artefact(signed, "config", rollback=False))
    finally:
        service.fleet.stop()
        service.outbox.close()
    restarted = _service(tmp_path, fleet)  # the box restarts with the same edge.yaml
    try:
        assert [line.name for line in restarted.config.cameras[0].lines] == ["door"]
    finally:
        assert restarted.fleet is not None
        restarted.fleet.stop()
        restarted.outbox.close()
