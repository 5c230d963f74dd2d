"""MQTT publisher: drains the outbox to the broker with QoS 1; rows leave when the collector has stored them.

One thread owns the paho-mqtt 2.x client (no paho background thread): it connects (MQTT 5 by default,
``clean_start=False`` with a session expiry, or 3.1.1 with ``clean_session=False``), publishes the retained
``online`` status (the last will says ``offline``), subscribes to its receipt topic, then loops: publish the
backlog in sequence order within an in-flight window and a token-bucket rate, read PUBACKs and receipts.

End to end (``mqtt.receipts``, see docs/events.md): every event carries the outbox id and floor (the lowest seq
still held) as MQTT 5 user properties; the collector publishes a retained receipt per device after each commit
(the highest contiguous seq stored) and the publisher deletes rows up to it. Rows the broker acknowledged that no
receipt covers after ``receipt_timeout_s`` are re-sent, oldest ``resend_batch`` first, with a backoff growing to
``resend_max_s`` while no receipt comes (the collector deduplicates by id). ``auto`` (the default) deletes on
PUBACK, as before, until this outbox has seen a receipt: a collector without receipts keeps working.

Connecting, TLS and reconnecting with backoff (a wrong or absent broker, refused credentials or unreadable
certificates: one clear line each, retried until ``stop``) are :class:`edge.mqtt_connection.Connection`'s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.retry import Retry
from contract.events import utc_now
from contract.messages import parse_receipt, status_payload
from contract.topics import receipt_topic, status_topic
from edge.config import MqttConfig
from edge.mqtt_connection import Connection, PublisherStats, TlsFileError
from edge.outbox import Outbox

__all__ = ["RECEIPTS_SEEN", "Publisher", "PublisherStats", "TlsFileError"]
log = logging.getLogger("smartstore.mqtt")
#: outbox flag: this outbox has seen a collector receipt (``receipts: auto`` then waits for receipts for good)
RECEIPTS_SEEN = "receipts_seen"


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def take(self, wanted: int) -> int:
        if self.rate <= 0:
            return wanted
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted


class Publisher(Connection):
    """Publishes ``outbox`` to the broker in ``config`` as device ``device`` of ``store``."""

    def __init__(self, config: MqttConfig, store: str, device: str, outbox: Outbox,
                 client_id: str | None = None, announce: bool = True) -> None:
        """``announce=False`` (``edge check``): no last will and no online/offline status messages."""
        super().__init__(config, client_id or config.client_id or device)
        self.store = store
        self.device = device
        self.outbox = outbox
        self.status_topic = status_topic(store, device, config.topic_prefix)
        self.announce = announce
        self._wake = threading.Event()
        self._flush_deadline: float | None = None
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._acks: list[int] = []
        self._rejected: list[int] = []
        self._cursor = -1  # newest seq handed to paho on this client
        self._bucket = _TokenBucket(config.drain_rate)
        self.receipt_topic = receipt_topic(store, device, config.topic_prefix)
        v5 = config.protocol == "5"
        self._receipts_wanted = v5 and config.receipts != "off"
        self.end_to_end = v5 and (config.receipts == "on" or (config.receipts == "auto"
                                                               and outbox.get_flag(RECEIPTS_SEEN)))
        self._receipt_in = -1  # highest receipt received (network callbacks)
        self._receipt_heard = 0.0  # when the last receipt message came (moving or not)
        self._collector_back = False  # a receipt after a silence: a collector (re)started or we reconnected
        self._receipt = -1  # highest receipt applied to the outbox
        self._sent_high = -1  # highest seq the broker acknowledged
        self._ack_marks: deque[tuple[float, int]] = deque()  # (when, highest seq acknowledged by then)
        self._overdue = -1  # highest seq acknowledged more than receipt_timeout_s ago
        self._resend_retry = Retry(config.receipt_timeout_s, config.resend_max_s)
        self._resend_at = 0.0  # no re-send before this (backoff while receipts do not move)
        self._resend_from = -1  # the receipt when the last re-send started
        self._resend_next = self._resend_end = -1  # a range being re-sent: (next, end]
        self._listeners: dict[str, Callable[[paho.MQTTMessage], None]] = {}  # topic -> handler (commands)
        self._outgoing: deque[tuple[str, bytes, Properties | None]] = deque()  # replies to publish

    # ---- lifecycle -------------------------------------------------------------------------------------
    def notify(self) -> None:
        """New events are in the outbox: publish them without waiting for the poll interval."""
        self._wake.set()

    def stop(self, flush_timeout: float = 10.0) -> bool:
        """Drain the outbox for up to ``flush_timeout`` s, mark the device offline, disconnect; True if drained."""
        self._flush_deadline = time.monotonic() + flush_timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(flush_timeout + 10)
        return len(self.outbox) == 0

    def listen(self, topic: str, handler: Callable[[paho.MQTTMessage], None]) -> None:
        """Subscribe to ``topic`` (QoS 1) on every connect; ``handler`` gets its messages on the MQTT thread."""
        self._listeners[topic] = handler

    def send(self, topic: str, payload: bytes, props: Properties | None = None) -> None:
        """Publish one message (QoS 1, not retained) from any thread, once connected (not kept across restarts)."""
        self._outgoing.append((topic, payload, props))
        self._wake.set()

    # ---- the connection's hooks ------------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        return len(self.outbox)

    def _will(self) -> tuple[str, bytes] | None:
        if not self.announce:
            return None
        return self.status_topic, status_payload(self.store, self.device, "offline", utc_now())

    def _on_new_client(self) -> None:
        self._inflight.clear()
        self._cursor = -1

    def _on_connected(self, client: paho.Client) -> None:
        if self.announce:
            client.publish(self.status_topic, status_payload(self.store, self.device, "online"), qos=1, retain=True)
        if self._receipts_wanted and self.announce:  # every time: a restarted broker may have lost it
            client.subscribe(self.receipt_topic, qos=1)
        for topic in self._listeners:
            client.subscribe(topic, qos=1)

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # the status message
        if reason.is_failure:
            self.stats.rejected += 1
            log.error("mqtt: broker rejected event seq %d: %s (dropped)", seq, reason)
            self._rejected.append(seq)
        else:
            self._acks.append(seq)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.topic in self._listeners:
            self._listeners[msg.topic](msg)
        if msg.topic != self.receipt_topic:
            return
        parsed = parse_receipt(bytes(msg.payload), self.store, self.device)
        if parsed is None or parsed[0] != self.outbox.outbox_id:
            return  # not ours, or for an older outbox file of this device
        now = time.monotonic()
        if now - self._receipt_heard > self.config.receipt_timeout_s:
            self._collector_back = True
        self._receipt_heard = now
        self._receipt_in = max(self._receipt_in, parsed[1])

    # ---- one session -----------------------------------------------------------------------------------
    def _should_exit(self) -> bool:
        """Stopping, and nothing more can be flushed: disconnected (the outbox keeps the rest), empty, or late."""
        if not self._stop.is_set():
            return False
        late = self._flush_deadline is None or time.monotonic() >= self._flush_deadline
        return not self._connected or late or (len(self.outbox) == 0 and not self._inflight)

    def _session(self, client: paho.Client) -> bool:
        """Run one connection until it drops or stop has flushed what it can; True if the broker accepted us."""
        connack_deadline = time.monotonic() + self.config.keepalive_s
        accepted = False
        published = 0
        while True:
            # Spin only while there is something to publish; waiting for PUBACKs blocks in select (woken by them).
            rc = client.loop(timeout=0.0 if published else 0.02)
            self._flush_acks()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                if self._connected:
                    self._on_disconnect(client, None, None, ReasonCode(PacketTypes.DISCONNECT, identifier=0x80), None)
                return accepted
            if not self._connected and time.monotonic() > connack_deadline:
                self.stats.last_error = "no CONNACK from the broker"
                log.error("mqtt: %s:%d sent no CONNACK within %d s", self.config.host, self.config.port,
                          self.config.keepalive_s)
                client.disconnect()
                return accepted
            published = 0
            if self._connected:
                accepted = True
                while self._outgoing:
                    topic, payload, props = self._outgoing.popleft()
                    client.publish(topic, payload, qos=1, properties=props)
                self._apply_receipt()
                published = self._resend_some(client) + self._publish_some(client)
                if self._should_exit():
                    return accepted
            if not published and not self._inflight:
                self._wake.wait(0.05)  # idle: until the pipeline enqueues something
                self._wake.clear()

    def _room(self) -> int:
        room = self.config.inflight - len(self._inflight)
        return self._bucket.take(room) if room > 0 else 0

    def _properties(self) -> Properties | None:
        """MQTT 5 user properties for the collector's receipts: this outbox's id and floor."""
        if not self._receipts_wanted:
            return None
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("outbox", self.outbox.outbox_id), ("floor", str(self.outbox.floor()))]
        return props

    def _send(self, client: paho.Client, after: int, limit: int, props: Properties | None) -> int:
        """Publish up to ``limit`` stored events with ``seq > after``; returns the last seq sent (``after`` if none)."""
        items = self.outbox.pending(after=after, limit=limit)
        for item in items:
            info = client.publish(item.topic, item.payload, qos=1, properties=props)
            self._inflight[info.mid] = item.seq
            after = item.seq
        self.stats.published += len(items)
        return after

    def _publish_some(self, client: paho.Client) -> int:
        """Hand the next events to paho within the in-flight window and the drain rate; returns how many."""
        if self.outbox.last_seq <= self._cursor:
            return 0
        room = self._room()
        if room <= 0:
            return 0
        before = len(self._inflight)
        last = self._send(client, self._cursor, room, self._properties())
        self._cursor = last if last > self._cursor else self.outbox.last_seq  # none: dropped under the disk cap
        return len(self._inflight) - before

    def _resend_some(self, client: paho.Client) -> int:
        """End to end: re-send, oldest first, events the broker took over ``receipt_timeout_s`` ago that no receipt
        covers. While receipts move, ranges of ``resend_batch`` follow each other at the drain rate; while they do
        not, one probe (an in-flight window) per backoff interval (``receipt_timeout_s`` doubling to
        ``resend_max_s``)."""
        if not self.end_to_end:
            return 0
        now = time.monotonic()
        while self._ack_marks and self._ack_marks[0][0] <= now - self.config.receipt_timeout_s:
            self._overdue = self._ack_marks.popleft()[1]
        if self._resend_next >= self._resend_end:
            if self._overdue <= self._receipt or now < self._resend_at:
                return 0
            self._start_resend(now)
        room = min(self._room(), self._resend_end - self._resend_next)
        if room <= 0:
            return 0
        before = len(self._inflight)
        last = self._send(client, self._resend_next, room, self._properties())
        self._resend_next = last if last > self._resend_next else self._resend_end
        sent = len(self._inflight) - before
        self.stats.resent += sent
        return sent

    def _start_resend(self, now: float) -> None:
        if self._receipt > self._resend_from:
            self._resend_retry.reset()  # the collector stored the last range: it is back, keep going
        # While nothing moves, a probe of one in-flight window is enough to find out whether the collector is back.
        size = self.config.resend_batch if self._resend_retry.attempt == 0 else min(self.config.resend_batch,
                                                                                      self.config.inflight)
        self._resend_from = self._receipt
        self._resend_next = self._receipt
        self._resend_end = min(self._overdue, self._cursor, self._receipt + size)
        delay = self._resend_retry.next_delay()
        self._resend_at = now + delay
        level = logging.INFO if self._resend_retry.attempt == 1 else logging.WARNING
        log.log(level, "mqtt: no collector receipt beyond seq %d for %.0f s; re-sending seq %d-%d (attempt %d, "
                "next in %.0f s unless receipts move)", self._receipt, self.config.receipt_timeout_s,
                self._receipt + 1, self._resend_end, self._resend_retry.attempt, delay)

    def _apply_receipt(self) -> None:
        """Delete what the collector's latest receipt covers; the first receipt switches ``auto`` to end to end."""
        receipt = self._receipt_in
        if self._collector_back:  # re-send what is overdue now, not after the backoff of a long silence
            self._collector_back = False
            self._resend_retry.reset()
            self._resend_at = 0.0
        if receipt <= self._receipt:
            return
        if not self.end_to_end:
            self.end_to_end = True
            self.outbox.set_flag(RECEIPTS_SEEN)
            log.info("mqtt: the collector sends receipts: events now leave the outbox when it has stored them")
        self._receipt = receipt
        self.stats.receipt_seq = receipt
        self.outbox.settle(receipt)
        self._resend_next = max(self._resend_next, min(receipt, self._resend_end))
        self._resend_at = 0.0  # receipts move: what is still overdue may be re-sent at once

    def _flush_acks(self) -> None:
        if self._rejected:  # the broker will never deliver these: they leave the outbox (counted, logged)
            rejected, self._rejected = self._rejected, []
            self.outbox.ack(rejected)
        if self._acks:
            acks, self._acks = self._acks, []
            if self.end_to_end:
                self.outbox.mark_sent(acks)
                self._sent_high = max(self._sent_high, *acks)
                self._ack_marks.append((time.monotonic(), self._sent_high))
            else:
                self.outbox.ack(acks)
            self.stats.acked += len(acks)

    def _shutdown(self, client: paho.Client) -> None:
        if self._connected and self.announce:
            info = client.publish(self.status_topic, status_payload(self.store, self.device, "offline", clean=True),
                                  qos=1, retain=True)
            deadline = time.monotonic() + 2
            while not info.is_published() and time.monotonic() < deadline and self._connected:
                client.loop(timeout=0.05)
        if self._connected:
            client.disconnect()
            client.loop(timeout=0.1)
        self._connected = False
        self.stats.connected = False
        log.info("mqtt: stopped (%d events left in the outbox)", len(self.outbox))

