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

The MQTT client side (subscriptions, reconnects, PUBACKs, ``retire_session``) is ``collector.mqtt_consumer``; the
commit path (batches, the writer thread, store retries) is ``collector.batches``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from collector.batches import Batch, BatchWriter
from collector.config import CollectorConfig
from collector.metrics import Metrics
from collector.mqtt_consumer import STATUS_SUBSCRIPTION, Consumer, edge_properties, retire_session, subscription_ids
from collector.store import BatchResult, Receipt, Store
from collector.validation import Accepted, Rejected, Status, TsLimits, check_event, check_status
from contract import topics
from contract.messages import receipt_payload

__all__ = ["Batch", "Ingestor", "retire_session"]

log = logging.getLogger(__name__)
RECEIPT_REPEAT_S = 1.0  # an unchanged receipt is published again at most this often (the edge may be re-sending)


class Ingestor:
    """Subscribe, validate, batch, commit, acknowledge. ``run(stop)`` blocks until ``stop`` is set.

    The MQTT side is a :class:`collector.mqtt_consumer.Consumer`, the commits a
    :class:`collector.batches.BatchWriter`; this class validates and batches messages, acknowledges committed
    batches and publishes the receipts they advanced.
    """

    def __init__(self, config: CollectorConfig, store: Store, metrics: Metrics | None = None,
                 on_commit: Callable[[BatchResult], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics or Metrics()
        self.on_commit = on_commit
        self.batch = Batch()
        self._generation = 0
        self._receipts: dict[tuple[str, str], tuple[Receipt, float]] = {}  # latest published, when
        self._receipts_due: dict[tuple[str, str], Receipt] = {}
        ingest = config.ingest
        store.seq_window, store.dead_letter_bytes = ingest.seq_window, ingest.dead_letter_bytes
        self.ts_limits = TsLimits(ingest.ts_future_s, ingest.ts_past_s)
        self.connected = threading.Event()
        self.consumer = Consumer(config.mqtt, self._on_message, self._on_connect)
        self.client = self.consumer.client
        self.writer = BatchWriter(store, self.metrics, config.mqtt.prefix, self._committed)

    # -- callbacks (run inside the client's loop on the ingest thread) ------------------------------------
    def _on_connect(self) -> None:
        self._receipts_due.update({key: r for key, (r, _) in self._receipts.items()})  # the broker may have lost them
        self.connected.set()
        self.metrics.connected = True

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        result = self._check(msg)
        batch = self.batch
        if result is not None:
            if batch.empty():
                batch.started = time.monotonic()
            if isinstance(result, Accepted):
                batch.events.append(result)
            elif isinstance(result, Status):
                batch.statuses.append(result)
            else:
                batch.rejected.append(result)
        if msg.qos > 0:
            batch.acks.append((msg.mid, msg.qos))

    def _check(self, msg: mqtt.MQTTMessage) -> Accepted | Status | Rejected | None:
        """Validate one message; None for a message that is only acknowledged (a status copy, our own receipt)."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = bytes(msg._topic).decode("utf-8", "replace")
        prefix, payload = self.config.mqtt.prefix, bytes(msg.payload)
        if topics.is_status_topic(topic, prefix):
            ids = subscription_ids(msg)
            if ids is not None and STATUS_SUBSCRIPTION not in ids:
                return None  # the shared subscription's copy: the direct one, which every replica gets in order, counts
            return check_status(topic, payload, prefix)
        if topics.is_receipt_topic(topic, prefix):  # our own receipts come back through the shared subscription
            return None
        if topics.is_command_topic(topic, prefix) or topics.is_reply_topic(topic, prefix):
            return None  # fleet commands and their replies: read by whoever sent the command, not stored as events
        result = check_event(topic, payload, prefix, self.config.ingest.max_payload_bytes, self.ts_limits)
        if isinstance(result, Accepted) and self.config.mqtt.receipts:
            outbox, floor = edge_properties(msg)
            if outbox is not None:
                result = replace(result, outbox=outbox, floor=floor)
        return result

    # -- batching ------------------------------------------------------------------------------------------
    def _due(self) -> bool:
        batch = self.batch
        if batch.empty():
            return False
        return (len(batch) >= self.config.ingest.batch_size
                or time.monotonic() - batch.started >= self.config.ingest.batch_ms / 1000)

    def flush(self) -> None:
        """Hand the current batch to the writer thread (blocks while two batches are already waiting)."""
        batch, self.batch = self.batch, Batch()
        if not batch.empty():
            batch.generation = self._generation
            self.writer.put(batch)

    def _committed(self, result: BatchResult) -> None:
        if self.on_commit is not None:
            self.on_commit(result)

    def _send_acks(self) -> None:
        """PUBACK committed batches, oldest first; acks of a previous connection are dropped (redelivered)."""
        for done in self.writer.committed():
            if done.generation == self._generation:
                self.consumer.ack(done.acks)
            self._queue_receipts(done.receipts)
        self._publish_receipts()

    # -- receipts ------------------------------------------------------------------------------------------
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
        if not self._receipts_due or not self.consumer.is_connected():
            return
        prefix, now = self.config.mqtt.prefix, time.monotonic()
        for key, receipt in self._receipts_due.items():
            self.consumer.publish(topics.receipt_topic(receipt.store, receipt.device, prefix),
                                  receipt_payload(receipt.store, receipt.device, receipt.outbox, receipt.seq),
                                  retain=True)
            self._receipts[key] = (receipt, now)
        self.metrics.receipts += len(self._receipts_due)
        self._receipts_due.clear()

    # -- main loop -----------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Ingest until ``stop`` is set; then commit and acknowledge what is in hand and disconnect.

        This thread reads and validates; a writer thread commits, so the database's fsync or round trip overlaps
        the next batch's reading. Batches commit, and are acknowledged, in the order they were received.
        """
        self._load_receipts()
        if not self.consumer.connect(stop):
            return
        self.writer.start(stop)
        last_prune = 0.0
        while not stop.is_set():
            wait = 0.005 if self.writer.busy() else self.config.ingest.batch_ms / 1000 if len(self.batch) else 0.1
            rc = self.consumer.loop(wait)
            self._send_acks()
            if self._due():
                self.flush()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(stop, rc)
            elif time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                self._prune()
        self.flush()
        self.writer.finish()
        self._send_acks()
        self.consumer.disconnect()

    def _lost(self, stop: threading.Event, rc: MQTTErrorCode) -> None:
        """Connection lost: commit what arrived (its acks die with the connection: redelivered, deduplicated)."""
        log.warning("broker connection lost (%s); reconnecting", rc)
        self.connected.clear()
        self.metrics.connected = False
        self.flush()
        self._generation += 1
        self.consumer.reconnect(stop)

    def _prune(self) -> None:
        r = self.config.retention
        try:
            deleted = self.store.prune(r.events_days, r.dead_letters_days, r.rollups_days)
        except Exception as exc:
            log.warning("retention pruning failed: %s", exc)
            return
        if any(deleted.values()):
            log.info("retention: deleted %s", deleted)
