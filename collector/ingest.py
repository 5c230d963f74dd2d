"""MQTT ingest: a paho-mqtt 2 MQTT 5 subscriber on a shared subscription, committing in batches.

At least once, end to end: messages are acknowledged (manual PUBACK) only after the batch holding them is
committed; the session is persistent (``clean_start=False`` with a session expiry), so whatever was not
acknowledged when the collector died is redelivered, and the store's insert-or-ignore by event id makes the
redelivery harmless. Every message is validated (``collector.validation``); anything invalid is committed to the
dead-letter table, and acknowledged, like a good one. Replicas with the same group split the load
(``$share/<group>/<prefix>/#``); each also subscribes to the retained device status topics directly, because
brokers do not send retained messages to shared subscriptions. Status copies that come through the shared
subscription are skipped (told apart by MQTT 5 subscription identifiers): every replica applies the direct
copies in broker order, so the last status received is the device's state (a last will carries its session's
connect time, so time stamps cannot order it against the ``online`` of the same session).

End to end: after each commit the collector publishes, per device whose events carry an outbox id, a retained
receipt (``<prefix>/<store>/<device>/receipt``, QoS 1) with the highest contiguous seq the store holds; the edge
deletes its outbox rows up to it and re-sends the rest after a timeout. Receipts are computed in the shared
database, so every replica of a group publishes the same (monotonic) value. The broker connection is re-made
within seconds (``mqtt.reconnect_max_s``) and every connect subscribes again: a restarted Mosquitto 2.0 restores
persistent sessions but not their ``$share`` subscriptions.
"""

from __future__ import annotations

import logging
import queue
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from collector.config import CollectorConfig, MqttConfig
from collector.metrics import Metrics
from collector.store import BatchResult, Receipt, Store
from collector.validation import (
    STORE_ERROR,
    Accepted,
    Rejected,
    Status,
    TsLimits,
    check_event,
    check_status,
    clean_text,
)
from common.retry import Retry
from contract import topics
from contract.messages import receipt_payload

log = logging.getLogger(__name__)
PUBACK = 0x40  # MQTT control packet type
STATUS_SUBSCRIPTION, SHARED_SUBSCRIPTION = 1, 2  # MQTT 5 subscription identifiers
PUBACK_HEADER = struct.Struct("!BBH")  # type, remaining length 2, packet id (reason code 0 omitted: MQTT 5 3.4.2.1)


OUTBOX_ID = frozenset("0123456789abcdef")
RECEIPT_REPEAT_S = 1.0  # an unchanged receipt is published again at most this often (the edge may be re-sending)


def _edge_properties(msg: mqtt.MQTTMessage) -> tuple[str | None, int | None]:
    """The ``outbox`` id and ``floor`` user properties an edge with receipts sends; ``(None, None)`` otherwise."""
    props = getattr(msg.properties, "UserProperty", None) if msg.properties else None
    if not props:
        return None, None
    values = dict(props)
    outbox, floor = values.get("outbox"), values.get("floor")
    if not isinstance(outbox, str) or len(outbox) != 32 or not OUTBOX_ID.issuperset(outbox):
        return None, None
    if not isinstance(floor, str) or not floor.isdigit() or len(floor) > 18:
        return outbox, None
    return outbox, int(floor)


def _worth_logging(attempt: int) -> bool:
    """Reconnect attempts come every few seconds: log the 1st, 2nd, 4th, 8th ... and then every 64th."""
    return attempt & (attempt - 1) == 0 or attempt % 64 == 0


def _subscription_id(value: int) -> Properties:
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = value
    return props


@dataclass
class Batch:
    events: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) to PUBACK after the commit
    started: float = 0.0
    generation: int = 0  # the connection the messages came on

    def __len__(self) -> int:
        return len(self.events) + len(self.rejected) + len(self.statuses)


class Ingestor:
    """Subscribe, validate, batch, commit, acknowledge. ``run(stop)`` blocks until ``stop`` is set."""

    def __init__(self, config: CollectorConfig, store: Store, metrics: Metrics | None = None,
                 on_commit: Callable[[BatchResult], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics or Metrics()
        self.on_commit = on_commit
        self.batch = Batch()
        self._pending: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._committed: deque[tuple[int, list[tuple[int, int]], tuple[Receipt, ...]]] = deque()
        self._generation = 0
        self._receipts: dict[tuple[str, str], tuple[Receipt, float]] = {}  # latest published, when
        self._receipts_due: dict[tuple[str, str], Receipt] = {}
        ingest = config.ingest
        store.seq_window, store.dead_letter_bytes = ingest.seq_window, ingest.dead_letter_bytes
        self.ts_limits = TsLimits(ingest.ts_future_s, ingest.ts_past_s)
        self.connected = threading.Event()
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        m = self.config.mqtt
        if m.protocol == "5":
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv5,
                                 manual_ack=True)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv311,
                                 clean_session=False, manual_ack=True)
        credentials(client, m)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        return client

    # -- callbacks (run inside client.loop on the ingest thread) ------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused the connection: %s", reason)
            return
        m = self.config.mqtt
        everything, statuses = topics.everything(m.prefix), topics.every_status(m.prefix)
        if not m.shared:  # one replica on a broker without shared subscriptions: one plain subscription
            client.subscribe(everything, qos=1)
        elif m.protocol == "5":  # subscription identifiers tell the direct status copy from the shared one
            client.subscribe(statuses, options=SubscribeOptions(qos=1),
                             properties=_subscription_id(STATUS_SUBSCRIPTION))
            client.subscribe(topics.shared(m.group, everything), options=SubscribeOptions(qos=1),
                             properties=_subscription_id(SHARED_SUBSCRIPTION))
        else:
            client.subscribe([(statuses, 1), (topics.shared(m.group, everything), 1)])
        self._receipts_due.update({key: r for key, (r, _) in self._receipts.items()})  # the broker may have lost them
        self.connected.set()
        self.metrics.connected = True
        log.info("connected to %s:%s as %s (session present: %s)", m.host, m.port, m.client_id,
                 getattr(flags, "session_present", None))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = bytes(msg._topic).decode("utf-8", "replace")
        prefix, payload = self.config.mqtt.prefix, bytes(msg.payload)
        if topics.is_status_topic(topic, prefix):
            ids = getattr(msg.properties, "SubscriptionIdentifier", None) if msg.properties else None
            if ids is not None and STATUS_SUBSCRIPTION not in ids:
                # the shared subscription's copy: the direct one, which every replica gets in order, counts
                if msg.qos:
                    self.batch.acks.append((msg.mid, msg.qos))
                return
            result: Accepted | Status | Rejected = check_status(topic, payload, prefix)
        elif topics.is_receipt_topic(topic, prefix):  # our own receipts come back through the shared subscription
            if msg.qos:
                self.batch.acks.append((msg.mid, msg.qos))
            return
        else:
            result = check_event(topic, payload, prefix, self.config.ingest.max_payload_bytes, self.ts_limits)
            if isinstance(result, Accepted) and self.config.mqtt.receipts:
                outbox, floor = _edge_properties(msg)
                if outbox is not None:
                    result = replace(result, outbox=outbox, floor=floor)
        batch = self.batch
        if not batch.acks and not len(batch):
            batch.started = time.monotonic()
        if isinstance(result, Accepted):
            batch.events.append(result)
        elif isinstance(result, Status):
            batch.statuses.append(result)
        else:
            batch.rejected.append(result)
        if msg.qos > 0:
            batch.acks.append((msg.mid, msg.qos))

    # -- batching ------------------------------------------------------------------------------------------
    def _due(self) -> bool:
        batch = self.batch
        if not batch.acks and not len(batch):
            return False
        return (len(batch) >= self.config.ingest.batch_size
                or time.monotonic() - batch.started >= self.config.ingest.batch_ms / 1000)

    def flush(self) -> None:
        """Hand the current batch to the writer thread (blocks while two batches are already waiting)."""
        batch, self.batch = self.batch, Batch()
        if len(batch) or batch.acks:
            batch.generation = self._generation
            self._pending.put(batch)

    def _writer(self, stop: threading.Event) -> None:
        """Commit batches in order (retrying transient store errors); their acks go back to the network thread."""
        while (batch := self._pending.get()) is not None:
            started = time.perf_counter()
            result = self._commit(batch, stop)
            if result is not None:  # None: stopping while the store is down; nothing acknowledged, redelivered
                now = time.time()
                self.metrics.record_batch(time.perf_counter() - started, result.inserted, result.duplicates,
                                          result.statuses, [r.reason for r in (*batch.rejected, *result.rejected)],
                                          [now - e.ts for e in batch.events])
                self._committed.append((batch.generation, batch.acks, result.receipts))
                if self.on_commit is not None:
                    self.on_commit(result)
            self._pending.task_done()

    def _send_acks(self) -> None:
        """PUBACK committed batches, oldest first; acks of a previous connection are dropped (redelivered)."""
        while self._committed:
            generation, acks, receipts = self._committed.popleft()
            if generation == self._generation:
                self._ack(acks)
            self._queue_receipts(receipts)
        self._publish_receipts()

    def _load_receipts(self) -> None:
        """The stored receipts, published again on connect: an edge hearing one after a silence re-sends at once."""
        if not self.config.mqtt.receipts:
            return
        try:
            rows = self.store.receipts()
        except Exception as exc:  # the store may be down: ingest retries it; receipts follow with the next commit
            log.warning("cannot read the stored receipts: %s", exc)
            self.store.reset()
            return
        self._receipts = {(r["store"], r["device"]): (Receipt(r["store"], r["device"], r["outbox"], int(r["seq"])), 0.0)
                          for r in rows if int(r["seq"]) >= 0}

    def _queue_receipts(self, receipts: tuple[Receipt, ...]) -> None:
        now = time.monotonic()
        for receipt in receipts:
            key = (receipt.store, receipt.device)
            last = self._receipts.get(key)
            if receipt.seq < 0 or (last is not None and last[0] == receipt and now - last[1] < RECEIPT_REPEAT_S):
                continue
            self._receipts_due[key] = receipt

    def _publish_receipts(self) -> None:
        """Retained QoS 1 receipts for the devices whose receipt changed (or which keep re-sending)."""
        if not self._receipts_due or not self.client.is_connected():
            return
        prefix, now = self.config.mqtt.prefix, time.monotonic()
        for key, receipt in self._receipts_due.items():
            self.client.publish(topics.receipt_topic(receipt.store, receipt.device, prefix),
                                receipt_payload(receipt.store, receipt.device, receipt.outbox, receipt.seq),
                                qos=1, retain=True)
            self._receipts[key] = (receipt, now)
        self.metrics.receipts += len(self._receipts_due)
        self._receipts_due.clear()

    def _ack(self, acks: list[tuple[int, int]]) -> None:
        """PUBACK every QoS 1 message of the batch in ONE write (paho's ``ack`` sends one packet per message)."""
        packet = b"".join(PUBACK_HEADER.pack(PUBACK, 2, mid) for mid, qos in acks if qos == 1)
        if packet and self.client.is_connected():
            self.client._packet_queue(PUBACK, packet, 0, 1)
        for mid, qos in acks:
            if qos == 2:
                self.client.ack(mid, qos)

    def _commit(self, batch: Batch, stop: threading.Event | None) -> BatchResult | None:
        retry = Retry(0.2, 10.0)
        while True:
            delay = retry.next_delay()
            try:
                return self.store.write_batch(batch.events, batch.rejected, batch.statuses)
            except self.store.transient_errors as exc:
                log.warning("store unavailable (%s); retrying the batch in %.1f s", str(exc).strip(), delay)
                self.store.reset()
            except Exception as exc:
                log.warning("batch rejected by the store (%s: %s); storing message by message",
                            type(exc).__name__, exc)
                try:
                    return self._commit_one_by_one(batch)
                except self.store.transient_errors as again:  # the store went away meanwhile: retry all
                    log.warning("store unavailable (%s); retrying the batch in %.1f s", str(again).strip(), delay)
                    self.store.reset()
            if stop is not None and stop.wait(delay):
                return None
            if stop is None:
                time.sleep(delay)

    def _commit_one_by_one(self, batch: Batch) -> BatchResult:
        """Isolate the message the store refuses: it becomes a ``store_error`` dead letter, the rest is stored."""
        inserted = duplicates = dead = 0
        items: list[Accepted | Rejected] = [*batch.events, *batch.rejected]
        for item in items:
            try:
                r = self.store.write_batch([item]) if isinstance(item, Accepted) else self.store.write_batch([], [item])
            except self.store.transient_errors:
                raise
            except Exception as exc:
                payload = item.payload if isinstance(item, Rejected) else item.raw.encode()
                topic = item.topic if isinstance(item, Rejected) else f"{self.config.mqtt.prefix}/?"
                dead_letter = Rejected(STORE_ERROR, clean_text(f"{type(exc).__name__}: {exc}"), topic, payload)
                r = self.store.write_batch([], [dead_letter])
                batch.rejected.append(dead_letter)  # counted in the metrics with the others
            inserted, duplicates, dead = inserted + r.inserted, duplicates + r.duplicates, dead + r.dead_letters
        statuses = self.store.write_batch([], [], batch.statuses).statuses if batch.statuses else 0
        return BatchResult(inserted, duplicates, dead, statuses)

    # -- main loop -----------------------------------------------------------------------------------------
    def _connect(self, stop: threading.Event) -> bool:
        m = self.config.mqtt
        v5 = m.protocol == "5"
        props = Properties(PacketTypes.CONNECT) if v5 else None
        if props is not None:
            props.SessionExpiryInterval = m.session_expiry_s
        retry = Retry(m.reconnect_min_s, m.reconnect_max_s)
        while not stop.is_set():
            try:
                if v5:
                    self.client.connect(m.host, m.port, keepalive=m.keepalive_s, clean_start=False, properties=props)
                else:  # MQTT 3.1.1: a persistent session is clean_session=False (set on the client)
                    self.client.connect(m.host, m.port, keepalive=m.keepalive_s)
                return True
            except (OSError, ssl.SSLError) as exc:
                delay = retry.next_delay()
                if _worth_logging(retry.attempt):
                    log.warning("cannot reach the broker at %s:%s (%s); retrying in %.1f s (attempt %d)", m.host,
                                m.port, exc, delay, retry.attempt)
                stop.wait(delay)
        return False

    def run(self, stop: threading.Event) -> None:
        """Ingest until ``stop`` is set; then commit and acknowledge what is in hand and disconnect.

        This thread reads and validates; a writer thread commits, so the database's fsync or round trip overlaps
        the next batch's reading. Batches commit, and are acknowledged, in the order they were received.
        """
        self._load_receipts()
        if not self._connect(stop):
            return
        writer = threading.Thread(target=self._writer, args=(stop,), name="ingest-writer", daemon=True)
        writer.start()
        last_prune = 0.0
        while not stop.is_set():
            busy = self._pending.unfinished_tasks or self._committed
            wait = 0.005 if busy else self.config.ingest.batch_ms / 1000 if len(self.batch) else 0.1
            rc = self.client.loop(timeout=wait)
            self._send_acks()
            if self._due():
                self.flush()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(stop, rc)
            elif time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                self._prune()
        self.flush()
        self._pending.put(None)
        writer.join()
        self._send_acks()
        self.client.disconnect()
        self.client.loop(timeout=0.1)

    def _lost(self, stop: threading.Event, rc: MQTTErrorCode) -> None:
        """Connection lost: commit what arrived (its acks die with the connection: redelivered, deduplicated)."""
        log.warning("broker connection lost (%s); reconnecting", rc)
        self.connected.clear()
        self.metrics.connected = False
        self.flush()
        self._generation += 1
        m = self.config.mqtt
        retry = Retry(m.reconnect_min_s, m.reconnect_max_s)
        while not stop.is_set():
            delay = retry.next_delay()
            try:
                if self.client.reconnect() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return
            except (OSError, ssl.SSLError) as exc:
                if _worth_logging(retry.attempt):
                    log.warning("reconnect failed (%s); retrying in %.1f s (attempt %d)", exc, delay, retry.attempt)
            stop.wait(delay)

    def _prune(self) -> None:
        r = self.config.retention
        try:
            deleted = self.store.prune(r.events_days, r.dead_letters_days, r.rollups_days)
        except Exception as exc:
            log.warning("retention pruning failed: %s", exc)
            return
        if any(deleted.values()):
            log.info("retention: deleted %s", deleted)


def retire_session(config: CollectorConfig, timeout: float = 10.0) -> bool:
    """End replica ``config.mqtt.client_id``'s broker session for good (its share of the group and its queue).

    Connects with that client id, a clean start and a session expiry of 0, and disconnects: the broker discards
    the session, so a retired replica strands nothing (edges re-send what it held but never stored: receipts).
    Stop the replica first; returns False when the broker did not accept the connection in ``timeout`` s.
    """
    m = config.mqtt
    v5 = m.protocol == "5"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else True)
    credentials(client, m)
    accepted = threading.Event()
    client.on_connect = lambda c, u, f, reason, p: None if reason.is_failure else accepted.set()
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        client.connect(m.host, m.port, keepalive=m.keepalive_s, clean_start=True, properties=props)
    else:
        client.connect(m.host, m.port, keepalive=m.keepalive_s)
    deadline = time.monotonic() + timeout
    while not accepted.is_set() and time.monotonic() < deadline:
        if client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
            break
    if accepted.is_set():
        client.disconnect()
        client.loop(timeout=0.2)
    return accepted.is_set()


def credentials(client: mqtt.Client, m: MqttConfig) -> None:
    """The broker user and TLS files of ``m`` (the collector's mqtt config) on ``client``."""
    if m.username:
        client.username_pw_set(m.username, m.password)
    if m.ca_file or m.cert_file:
        client.tls_set(ca_certs=str(m.ca_file) if m.ca_file else None,
                       certfile=str(m.cert_file) if m.cert_file else None,
                       keyfile=str(m.key_file) if m.key_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
