"""set_prices on the edge: every price onto its label (a simulated OpenEPaperLink access point and a simulated
serial gateway), one result per price, the rendered image kept, a price id never pushed twice; then through a real
Mosquitto to a real EdgeService with fleet: and labels: sections: the labels updated and the reply back within
5 s, a duplicate command applied once with its reply sent again, and a broker restart between command and reply."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from contract.commands import LabelPrice, LabelResult, label_results, set_prices_command
from contract.signing import public_line
from edge.config import ConfigError, parse_config
from edge.fleet_host import price_board
from edge.labels import ALREADY_APPLIED, PriceBoard
from edge.labels_config import LabelsConfig
from edge.service import EdgeService
from tests.edge.fleet.helpers import Fleet, Requester
from tests.hardware.label_gateways import AccessPoint, SerialGateway, labels_section
from tools.broker import LocalBroker as Mosquitto

MAC1, MAC2 = "0000021EDE0F3B1C", "00000197E5CB3B38"
PRICES = [LabelPrice("p-1", "SKU-1", MAC1, 2.49, "EUR", was=2.99, promo="-17%"),
          LabelPrice("p-2", "SKU-2", "tag-7", 1.99, "EUR")]


@pytest.fixture
def ap() -> Iterator[AccessPoint]:
    with AccessPoint(tags=[MAC1, MAC2]) as instance:
        yield instance


@pytest.fixture
def radio(tmp_path: Path) -> Iterator[SerialGateway]:
    (tmp_path / "dev").mkdir()
    with SerialGateway(tmp_path / "dev") as instance:
        yield instance


@pytest.fixture
def board(tmp_path: Path, ap: AccessPoint, radio: SerialGateway, fleet: Fleet) -> Iterator[PriceBoard]:
    instance = PriceBoard(LabelsConfig.model_validate(labels_section(ap, radio)), tmp_path / "labels")
    fleet.channel = fleet.new_channel(labels=instance)
    yield instance
    instance.close()


def prices_run(fleet: Fleet, prices: list[LabelPrice]) -> Any:
    return fleet.run("set_prices", labels=[p.to_dict() for p in prices])


def test_every_label_applied_images_kept_and_never_pushed_twice(fleet: Fleet, board: PriceBoard, ap: AccessPoint,
                                                                radio: SerialGateway, tmp_path: Path) -> None:
    reply = prices_run(fleet, PRICES)
    assert (reply.state, reply.reason) == ("applied", None)
    assert label_results(reply) == [LabelResult("p-1", "applied"), LabelResult("p-2", "applied")]
    assert [u.mac for u in ap.uploads] == [MAC1]
    assert radio.shown["tag-7"] == {"price": "1.99", "currency": "EUR", "was": "-", "sku": "SKU-2", "promo": "-"}
    for price_id in ("p-1", "p-2"):
        with Image.open(tmp_path / "labels" / "images" / f"{price_id}.png") as image:
            assert image.size == (296, 128)
    again = prices_run(fleet, [*PRICES, LabelPrice("p-3", "SKU-3", MAC2, 5, "EUR")])  # a new command id
    assert again.state == "applied"
    assert [(r.price_id, r.reason) for r in label_results(again)] == [
        ("p-1", ALREADY_APPLIED), ("p-2", ALREADY_APPLIED), ("p-3", None)]
    assert [u.mac for u in ap.uploads] == [MAC1, MAC2]
    assert sum(f[0] == "PRICE" for f in radio.received) == 1


def test_a_failed_label_fails_the_command_with_every_result(fleet: Fleet, board: PriceBoard, ap: AccessPoint,
                                                            radio: SerialGateway) -> None:
    radio.script = ["nak:UNKNOWN_TAG"]
    prices = [PRICES[0], LabelPrice("p-9", "SKU-9", "tag-9", 3, "EUR"), LabelPrice("p-x", "S", "AABBCC", 1, "EUR")]
    reply = prices_run(fleet, prices)
    assert reply.state == "failed"
    assert reply.reason == "2 of 3 labels failed: tag-9: serial gateway " + str(radio.port) + ": NAK UNKNOWN_TAG"
    results = label_results(reply)
    assert [(r.price_id, r.state) for r in results] == [("p-1", "applied"), ("p-9", "failed"), ("p-x", "failed")]
    assert results[2].reason == "AABBCC: no gateway serves this label (labels.gateways[].labels)"
    retried = prices_run(fleet, prices[:2])  # the tag is paired now: the collector sends the failed one again
    assert [(r.price_id, r.state, r.reason) for r in label_results(retried)] == [
        ("p-1", "applied", ALREADY_APPLIED), ("p-9", "applied", None)]
    assert len(ap.uploads) == 1


def test_gateway_gone_is_a_failed_label_not_a_crash(fleet: Fleet, board: PriceBoard, ap: AccessPoint,
                                                    radio: SerialGateway) -> None:
    ap.close()
    radio.vanish()
    reply = prices_run(fleet, PRICES)
    assert reply.state == "failed" and reply.reason is not None and reply.reason.startswith("2 of 2 labels failed")
    reasons = [r.reason or "" for r in label_results(reply)]
    assert "unreachable" in reasons[0] and "unavailable" in reasons[1]
    assert not board.applied("p-1") and not board.applied("p-2")


def test_without_a_labels_section(fleet: Fleet) -> None:
    reply = prices_run(fleet, PRICES)
    assert reply.state == "failed" and "no labels: section" in (reply.reason or "")


def _config(tmp_path: Path, fleet: Fleet, port: int, labels: Any) -> Any:
    (tmp_path / "fleet.pub").write_text(public_line(fleet.key.public_key()) + "\n")
    return parse_config({"store": "s1", "device": "d1", "cameras": [{"id": "cam1", "source": "none.mp4"}],
                         "outbox": {"path": str(tmp_path / "outbox.db")},
                         "mqtt": {"port": port, "reconnect": {"min_s": 0.1, "max_s": 0.5}},
                         "fleet": {"public_keys": str(tmp_path / "fleet.pub")}, "labels": labels}, "edge.yaml")


def test_labels_section_checked_when_the_config_loads(tmp_path: Path, fleet: Fleet, ap: AccessPoint,
                                                      radio: SerialGateway) -> None:
    config = _config(tmp_path, fleet, 1883, labels_section(ap, radio))
    board = price_board(config)
    assert board is not None and board.folder == tmp_path / "labels"
    assert [g.describe() for g in board.gateways] == [f"access point {ap.url}", f"serial gateway {radio.port}"]
    board.close()
    for bad, reason in (({"gateways": [{"type": "serial"}]}, "serial gateway: port: Field required"),
                        ({"gateways": [{"type": "openepaperlink", "url": "x", "mode": "bmp"}]}, "url = 'x'"),
                        ({"gateways": [{"type": "carrier-pigeon"}]}, "unknown label gateway type"),
                        ({"gateways": []}, "labels.gateways")):
        with pytest.raises(ConfigError, match=reason):
            _config(tmp_path, fleet, 1883, bad)


@pytest.fixture
def service(broker: Mosquitto, fleet: Fleet, tmp_path: Path, ap: AccessPoint,
            radio: SerialGateway) -> Iterator[EdgeService]:
    """A real EdgeService (its cameras not running) with fleet: and labels:, its publisher on ``broker``."""
    instance = EdgeService(_config(tmp_path, fleet, broker.port, labels_section(ap, radio)))
    instance.publisher.start()
    assert instance.publisher.wait_connected(10)
    time.sleep(0.2)  # the command subscription goes out right after CONNACK
    yield instance
    assert instance.fleet is not None
    instance.fleet.stop()
    instance.publisher.stop(flush_timeout=1)
    instance.outbox.close()


def final(requester: Requester, command_id: str, timeout: float = 10.0) -> tuple[bytes | None, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [(c, r) for c, r in requester.wait(0, 0) if r.id == command_id and r.state != "accepted"]
        if done:
            return done[-1]
        time.sleep(0.02)
    return None


def test_through_mosquitto_within_5_s_and_a_duplicate_applied_once(broker: Mosquitto, service: EdgeService,
                                                                   ap: AccessPoint, radio: SerialGateway,
                                                                   tmp_path: Path) -> None:
    requester = Requester(broker.port)
    try:
        command = set_prices_command("s1", "d1", PRICES)
        started = time.monotonic()
        requester.send(command, b"prices-1")
        reply = final(requester, command.id, timeout=5.0)
        elapsed = time.monotonic() - started
        assert reply is not None, f"no final reply within 5 s: {requester.wait(0, 0)}"
        assert elapsed < 5.0 and reply[0] == b"prices-1" and reply[1].state == "applied"
        assert [r.state for r in label_results(reply[1])] == ["applied", "applied"]
        assert ap.shown(MAC1) is not None and radio.shown["tag-7"]["price"] == "1.99"
        assert (tmp_path / "labels" / "images" / "p-1.png").is_file()  # beside the outbox
        requester.replies.clear()
        requester.send(command, b"prices-again")  # the collector did not hear the reply: the same id again
        again = final(requester, command.id)
        assert again is not None and again[0] == b"prices-again" and again[1].detail["duplicate"] is True
        assert label_results(again[1]) == label_results(reply[1])
        assert len(ap.uploads) == 1 and sum(f[0] == "PRICE" for f in radio.received) == 1
    finally:
        requester.close()


def test_broker_restart_between_command_and_reply(broker: Mosquitto, service: EdgeService, ap: AccessPoint,
                                                  radio: SerialGateway) -> None:
    ap.delay_s = 1.0  # the upload and the read-back take 2 s: the broker goes down meanwhile
    requester = Requester(broker.port)
    try:
        command = set_prices_command("s1", "d1", PRICES)
        requester.send(command, b"before")
        assert [r.state for _, r in requester.wait(1)] == ["accepted"]
        broker.stop()
        assert service.fleet is not None and service.fleet.channel is not None
        labels = service.fleet.channel.labels
        assert labels is not None
        deadline = time.monotonic() + 15
        while not (labels.applied("p-1") and labels.applied("p-2")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the final reply is queued while the broker is away
        broker.start()
        assert service.publisher.wait_connected(10)
        deadline = time.monotonic() + 10
        while not requester.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # its subscription again
        requester.send(command, b"after")  # the collector re-sends until it hears a final reply
        reply = final(requester, command.id)
        assert reply is not None and reply[1].state == "applied", requester.wait(0, 0)
        assert [r.state for r in label_results(reply[1])] == ["applied", "applied"]
        assert len(ap.uploads) == 1 and sum(f[0] == "PRICE" for f in radio.received) == 1  # applied once
    finally:
        requester.close()


def test_edge_check_reaches_each_gateway(tmp_path: Path, fleet: Fleet, ap: AccessPoint, radio: SerialGateway) -> None:
    import yaml

    from edge.check import Step, check

    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({"store": "s1", "device": "d1", "cameras": [{"id": "cam1", "source": "none.mp4"}],
                                    "outbox": {"path": str(tmp_path / "outbox.db")},
                                    "labels": labels_section(ap, radio)}))
    steps: list[Step] = []
    check(path, broker_timeout=0.5, report=steps.append)
    labels = {s.name: s for s in steps if s.name.startswith("label gateway")}
    assert labels["label gateway 0"].line() == f"ok   label gateway 0: access point {ap.url}: 2 tag(s) listed"
    assert labels["label gateway 1"].line() == (f"ok   label gateway 1: serial gateway {radio.port}: READY, "
                                                "protocol 1, firmware sim-1.0")
    ap.close()
    radio.vanish()
    steps.clear()
    check(path, broker_timeout=0.5, report=steps.append)
    failed = [s.line() for s in steps if s.name.startswith("label gateway")]
    assert failed[0].startswith("FAIL label gateway 0: probe: access point") and "unreachable" in failed[0]
    assert failed[1].startswith("FAIL label gateway 1: probe: serial gateway") and "unavailable" in failed[1]


def test_only_the_newest_images_are_kept(tmp_path: Path, ap: AccessPoint, radio: SerialGateway) -> None:
    config = LabelsConfig.model_validate({**labels_section(ap, radio), "keep_images": 2})
    board = PriceBoard(config, tmp_path / "kept")
    try:
        for i in range(4):
            assert board.set_prices([LabelPrice(f"k-{i}", "S", "tag-1", 1 + i, "EUR")])[0].state == "applied"
            time.sleep(0.01)  # distinct modification times
        assert sorted(p.name for p in (tmp_path / "kept" / "images").iterdir()) == ["k-2.png", "k-3.png"]
        assert board.applied("k-0")  # pruning images forgets no applied price
    finally:
        board.close()
