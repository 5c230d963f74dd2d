"""Collector fixtures: stores on SQLite (a temporary file) and PostgreSQL (a unique schema per test), MQTT helpers."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import CollectorConfig, load_config
from collector.ingest import Ingestor
from collector.store import Store, open_store
from contract import Event

PG_URL = os.environ.get("SMARTSTORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """``(url, schema)`` for a fresh store on each backend; PostgreSQL gets a unique schema, dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path / "collector.db"), None
        return
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    cleanup = open_store(PG_URL, schema, migrate=False)
    cleanup.drop_schema()  # type: ignore[attr-defined]
    cleanup.close()


@pytest.fixture
def store(store_url: tuple[str, str | None]) -> Iterator[Store]:
    s = open_store(*store_url)
    yield s
    s.close()


def collector_config(url: str, schema: str | None, port: int, client_id: str = "collector-test",
                     batch_ms: int = 50) -> CollectorConfig:
    return load_config(None, {"store": url, "schema_name": schema, "mqtt.port": port, "mqtt.client_id": client_id,
                              "api.token": "test-token-123", "ingest.batch_ms": batch_ms})


class RunningIngestor:
    """An :class:`Ingestor` on its own thread with its own store connection; counts what it committed."""

    def __init__(self, config: CollectorConfig) -> None:
        self.store = open_store(config.store, config.schema_name)
        self.inserted = 0
        self.ingestor = Ingestor(config, self.store, on_commit=self._count)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.ingestor.run, args=(self.stop_event,), daemon=True)

    def _count(self, result: Any) -> None:
        self.inserted += result.inserted

    def start(self) -> RunningIngestor:
        self.thread.start()
        assert self.ingestor.connected.wait(15), "ingestor did not connect"
        time.sleep(0.3)  # SUBACK
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()
        self.store.close()


@pytest.fixture
def ingestor_factory() -> Iterator[Callable[[CollectorConfig], RunningIngestor]]:
    running: list[RunningIngestor] = []

    def make(config: CollectorConfig) -> RunningIngestor:
        r = RunningIngestor(config).start()
        running.append(r)
        return r

    yield make
    for r in running:
        if r.thread.is_alive():
            r.stop()


def publisher(port: int, client_id: str = "test-pub") -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]], qos: int = 1, retain: bool = False) -> None:
    infos = [client.publish(topic, payload, qos=qos, retain=retain) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=30)
        assert info.is_published()


def crossings(n: int, device: str = "cam-box-1", store: str = "s1", start_seq: int = 0) -> list[Event]:
    return [Event("footfall.crossing", store, device, start_seq + i,
                  {"line": "door", "direction": "in" if i % 3 else "out", "track_id": i}, camera="cam1")
            for i in range(n)]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
