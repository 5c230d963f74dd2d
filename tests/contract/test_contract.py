"""The contract package: one envelope from every record, one set of topic rules, and the import rules around it."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import Event, Record, is_receipt_topic, is_status_topic, kinds, load_schema, receipt_topic, status_topic
from contract.events import has_schema
from contract.messages import parse_receipt, receipt_payload, status_payload
from contract.topics import check_prefix, event_topic, every_status, everything, shared

REPO = Path(__file__).resolve().parents[2]


def test_from_record_is_the_envelope_byte_for_byte() -> None:
    record = Record("footfall.crossing", {"line": "door", "direction": "in", "track_id": 17}, 1764600000.301)
    event = Event.from_record(record, "store-001", "edge-01", "entrance")
    by_hand = Event("footfall.crossing", "store-001", "edge-01", 0, record.data, camera="entrance",
                    ts=datetime.fromtimestamp(record.ts, UTC), id=event.id)
    assert event.to_json() == by_hand.to_json()
    assert event.to_json() == (
        b'{"v":1,"id":"' + event.id.encode() + b'","kind":"footfall.crossing","store":"store-001","device":"edge-01",'
        b'"camera":"entrance","seq":0,"ts":"2025-12-01T14:40:00.301Z",'
        b'"data":{"line":"door","direction":"in","track_id":17}}')
    assert event.topic() == "smartstore/v1/store-001/edge-01/footfall/crossing"
    assert Event.from_record(Record("device.health", {"reason": "periodic"}, 0.0), "s", "d").camera is None


def test_topics_are_built_and_parsed_in_one_place() -> None:
    assert event_topic("s1", "d1", "queue.status") == "smartstore/v1/s1/d1/queue/status"
    assert event_topic("s1", "d1", "zone.visit", "acme/v1") == "acme/v1/s1/d1/zone/visit"
    assert is_status_topic(status_topic("s1", "d1")) and not is_status_topic(event_topic("s1", "d1", "queue.status"))
    assert is_receipt_topic(receipt_topic("s1", "d1", "acme/v1"), "acme/v1")
    assert not is_receipt_topic(receipt_topic("s1", "d1", "acme/v1"))  # another prefix
    assert not is_status_topic("smartstore/v1/s1/status")  # too short
    assert everything() == "smartstore/v1/#" and every_status("p") == "p/+/+/status"
    assert shared("collectors", everything()) == "$share/collectors/smartstore/v1/#"
    assert check_prefix("acme/v1") == "acme/v1"
    for bad in ("", "/a", "a/", "a/+", "a/#"):
        with pytest.raises(ValueError):
            check_prefix(bad)


def test_status_and_receipt_payloads() -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert status_payload("s", "d", "offline", at) == (
        b'{"v":1,"store":"s","device":"d","state":"offline","ts":"2026-12-01T10:00:00.000Z","clean":false}')
    body = receipt_payload("s", "d", "ab" * 16, 41, at)
    assert json.loads(body)["seq"] == 41
    assert parse_receipt(body, "s", "d") == ("ab" * 16, 41) and parse_receipt(body, "s", "other") is None
    assert parse_receipt(b"not json", "s", "d") is None


def test_every_kind_and_message_has_its_schema() -> None:
    assert "footfall.crossing" in kinds() and "device.health" in kinds()
    assert all(has_schema(kind) for kind in kinds())
    for name in ("event", "status", "receipt"):
        assert load_schema(name)["$schema"]
    assert not has_schema("no.such.kind")


def _imports(package: str) -> set[tuple[str, str]]:
    """(file, top-level module) for every import in ``package``."""
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(REPO)), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add((str(path.relative_to(REPO)), node.module.split(".")[0]))
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("contract", {"edge", "collector", "hardware", "export", "tools", "common", "smartstore"}),
    ("common", {"edge", "collector", "hardware", "export", "tools", "contract", "smartstore"}),
    ("hardware", {"edge", "collector", "tools"}),
    ("edge", {"collector", "tools"}),
    ("collector", {"edge", "tools"}),
])
def test_the_packages_share_only_the_contract(package: str, forbidden: set[str]) -> None:
    """The edge and the collector share ``contract`` (and the stdlib plumbing in ``common``), nothing else."""
    assert sorted((f, m) for f, m in _imports(package) if m in forbidden) == []
