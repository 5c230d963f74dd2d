"""Validation and dead-lettering: every reason, then >= 10,000 hostile payloads (hypothesis) with zero crashes.

The fuzz runs the validation function directly at volume and writes every rejection to a real SQLite store;
``test_ingest.py`` sends a smaller hostile set through a real broker.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.store import open_store
from collector.validation import (
    BAD_JSON,
    INVALID,
    INVALID_DATA,
    OUT_OF_RANGE,
    OVERSIZED,
    REASONS,
    TOPIC_MISMATCH,
    UNKNOWN_VERSION,
    Accepted,
    Rejected,
    check_event,
    check_status,
)
from contract import Event, is_status_topic, load_schema, status_payload, status_topic

GOOD = Event("footfall.crossing", "s1", "d1", 7, {"line": "door", "direction": "in", "track_id": 3}, camera="c1")
TOPIC = GOOD.topic()
FUZZ_COUNTS: Counter[str] = Counter()
REJECTED: list[Rejected] = []


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def mutate(**changes: Any) -> bytes:
    body = GOOD.to_dict()
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(("payload", "topic", "reason", "detail"), [
    (b"{nope", TOPIC, BAD_JSON, "JSONDecodeError"),
    (b"\xff\xfe{}", TOPIC, BAD_JSON, "UnicodeDecodeError"),
    (b'{"v": NaN}', TOPIC, BAD_JSON, "NaN is not valid JSON"),
    (b"[" * 30000 + b"]" * 30000, TOPIC, BAD_JSON, "RecursionError"),
    (b"x" * 70000, TOPIC, OVERSIZED, "70000 bytes > 65536"),
    (mutate(v=2), TOPIC, UNKNOWN_VERSION, "v=2"),
    (mutate(seq="7"), TOPIC, INVALID, "seq"),
    (mutate(store="s 1"), TOPIC, INVALID, "store"),
    (mutate(ts="yesterday"), TOPIC, INVALID, "date-time"),
    (mutate(extra=1), TOPIC, INVALID, "extra"),
    (b"[1, 2]", TOPIC, INVALID, "object"),
    (mutate(data={"line": "door", "direction": "sideways", "track_id": 3}), TOPIC, INVALID_DATA, "direction"),
    (GOOD.to_json(), "smartstore/v1/s2/d1/footfall/crossing", TOPIC_MISMATCH, "expected topic"),
    (mutate(seq=2**64), TOPIC, OUT_OF_RANGE, "64 bits"),
    (mutate(data={"line": "do\x00or", "direction": "in", "track_id": 3}), TOPIC, OUT_OF_RANGE, "NUL"),
    (mutate(data={"line": "door", "direction": "in", "track_id": 3, "count_in": 10**30}), TOPIC, OUT_OF_RANGE,
     "out of range"),
])
def test_each_reason(payload: bytes, topic: str, reason: str, detail: str) -> None:
    result = check_event(topic, payload)
    assert isinstance(result, Rejected), result
    assert result.reason == reason and detail in result.detail
    assert result.payload == payload


def test_valid_event_and_status() -> None:
    result = check_event(TOPIC, GOOD.to_json())
    assert isinstance(result, Accepted)
    assert (result.store, result.device, result.seq, result.data["line"]) == ("s1", "d1", 7, "door")
    assert result.ts == pytest.approx(GOOD.ts.timestamp(), abs=1e-3)
    assert is_status_topic(status_topic("s1", "d1")) and not is_status_topic(TOPIC)
    status = check_status(status_topic("s1", "d1"), status_payload("s1", "d1", "offline"))
    assert not isinstance(status, Rejected) and status.state == "offline"
    assert check_status(status_topic("s1", "d2"), status_payload("s1", "d1", "online")).reason == TOPIC_MISMATCH


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
envelope_keys = st.sampled_from(["v", "id", "kind", "store", "device", "camera", "seq", "ts", "data", "zz"])


def oracle_valid(payload: bytes, topic: str) -> bool:
    """Independent check with the Python jsonschema package: is this a valid event for this topic?"""
    try:
        message = json.loads(payload)
        checker = jsonschema.FormatChecker()
        jsonschema.validate(message, load_schema(), format_checker=checker)
        jsonschema.validate(message["data"], load_schema(message["kind"]), format_checker=checker)
    except Exception:
        return False
    return topic == f"smartstore/v1/{message['store']}/{message['device']}/{message['kind'].replace('.', '/')}"


def _check(payload: bytes, topic: str, source: str) -> None:
    result = check_event(topic, payload)
    FUZZ_COUNTS[source] += 1
    if isinstance(result, Rejected):
        assert result.reason in REASONS and result.detail and result.payload == payload
        REJECTED.append(result)
    else:
        assert isinstance(result, Accepted)
        assert oracle_valid(payload, topic), payload


@fuzz(500)
@given(payloads=st.lists(st.binary(max_size=300), min_size=10, max_size=10))
def test_fuzz_random_bytes(payloads: list[bytes]) -> None:
    for payload in payloads:
        _check(payload, TOPIC, "bytes")


@fuzz(350)
@given(values=st.lists(json_values, min_size=10, max_size=10))
def test_fuzz_random_json(values: list[Any]) -> None:
    for value in values:
        _check(json.dumps(value).encode(), TOPIC, "json")


@fuzz(1200)
@given(key=envelope_keys, value=json_values, drop=st.booleans())
def test_fuzz_mutated_envelope(key: str, value: Any, drop: bool) -> None:
    body = GOOD.to_dict()
    if drop:
        body.pop(key, None)
    else:
        body[key] = value
    _check(json.dumps(body).encode(), TOPIC, "envelope")


@fuzz(800)
@given(kind=st.sampled_from(load_schema()["properties"]["kind"]["enum"]),
       data=st.dictionaries(st.sampled_from(["line", "direction", "track_id", "zone", "count", "dwell_s", "shelf",
                                             "slot", "sku", "qty", "price", "reason", "sensor", "grams", "slots"]),
                            json_values, max_size=5),
       hostile=st.sampled_from(["", "\x00", "\ud800", "1e400", "x" * 70000]))
def test_fuzz_data_of_every_kind(kind: str, data: dict[str, Any], hostile: str) -> None:
    event = Event(kind, "s1", "d1", 1, data)
    text = event.to_json().decode()
    if hostile == "1e400":
        text = text.replace('"seq":1', '"seq":1e400')
    elif hostile:
        text = text.replace('"d1"', json.dumps("d1" + hostile), 1)
    _check(text.encode("utf-8", "surrogatepass"), event.topic(), "data")


def test_fuzz_volume_and_dead_letter_table(tmp_path: Path) -> None:
    """The fuzz tests above ran >= 10,000 payloads; every rejection lands in a real dead-letter table."""
    total = sum(FUZZ_COUNTS.values())
    if total == 0:
        pytest.skip("run with the fuzz tests (this test checks their volume)")
    assert total >= 10_000, FUZZ_COUNTS
    store = open_store(str(tmp_path / "dead.db"))
    for start in range(0, len(REJECTED), 1000):
        store.write_batch([], REJECTED[start:start + 1000])
    stored = store.counts()["dead_letters"]
    assert sum(stored.values()) == len(REJECTED) > total * 0.9, (stored, FUZZ_COUNTS)
    assert set(stored) <= set(REASONS) and {BAD_JSON, INVALID} <= set(stored)
    store.close()


def test_dead_letter_payloads_survive_storage(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "d.db"))
    hostile = [b"\x00\x01\xff", "é\ud800".encode("utf-8", "surrogatepass"), b"{" * 5000]
    store.write_batch([], [check_event("t/\x00", p) for p in hostile])  # type: ignore[misc]
    cap = store.dead_letter_bytes  # a dead letter keeps a capped prefix
    assert sorted(r["payload"] for r in store.dead_letters()) == sorted(p[:cap] for p in hostile)
    store.close()
