"""The collector's MQTT side (paho-mqtt 2): client, subscriptions, (re)connects with backoff, batched PUBACKs, and
retiring a replica's session.

:class:`Consumer` owns one client with manual acknowledgement and a persistent session (``clean_start=False``
with a session expiry on MQTT 5, ``clean_session=False`` on 3.1.1). Every connect subscribes again: a restarted
Mosquitto 2.0 restores persistent sessions but not their ``$share`` subscriptions. With shared subscriptions on
MQTT 5 the retained status topics are also subscribed directly (brokers do not send retained messages to shared
subscriptions), each subscription with its own identifier so the ingest can tell the two copies apart.
Every retry, of a connect or of a store commit, goes through :func:`retrying` over ``common.retry.Retry``.
"""

from __future__ import annotations

import logging
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from collector.config import CollectorConfig, MqttConfig
from common.retry import Retry
from contract import topics

log = logging.getLogger("collector.ingest")  # the ingest's log lines, whichever module writes them
PUBACK = 0x40  # MQTT control packet type
STATUS_SUBSCRIPTION, SHARED_SUBSCRIPTION = 1, 2  # MQTT 5 subscription identifiers
PUBACK_HEADER = struct.Struct("!BBH")  # type, remaining length 2, packet id (reason code 0 omitted: MQTT 5 3.4.2.1)
OUTBOX_ID = frozenset("0123456789abcdef")
T = TypeVar("T")


def retrying(attempt: Callable[[float], T | None], retry: Retry, stop: threading.Event | None) -> T | None:
    """Call ``attempt(delay)`` until it returns a value, waiting ``retry``'s growing delays in between.

    ``attempt`` gets the delay that follows it (for its log line) and returns None when it failed. Gives up
    (None) when ``stop`` is set during a wait; ``stop=None`` retries until it works. The first try always runs.
    """
    while True:
        delay = retry.next_delay()
        result = attempt(delay)
        if result is not None:
            return result
        if stop is None:
            time.sleep(delay)
        elif stop.wait(delay):
            return None


def worth_logging(attempt: int) -> bool:
    """Reconnect attempts come every few seconds: log the 1st, 2nd, 4th, 8th ... and then every 64th."""
    return attempt & (attempt - 1) == 0 or attempt % 64 == 0


def edge_properties(msg: mqtt.MQTTMessage) -> tuple[str | None, int | None]:
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


def subscription_ids(msg: mqtt.MQTTMessage) -> list[int] | None:
    """The MQTT 5 subscription identifiers a message came through (None on 3.1.1)."""
    return getattr(msg.properties, "SubscriptionIdentifier", None) if msg.properties else None


def credentials(client: mqtt.Client, m: MqttConfig) -> None:
    """The broker user and TLS files of ``m`` (the collector's mqtt config) on ``client``."""
    if m.username:
        client.username_pw_set(m.username, m.password)
    if m.ca_file or m.cert_file:
        client.tls_set(ca_certs=str(m.ca_file) if m.ca_file else None,
                       certfile=str(m.cert_file) if m.cert_file else None,
                       keyfile=str(m.key_file) if m.key_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)


def _subscription_id(value: int) -> Properties:
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = value
    return props


def _session_properties(expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    return props


class Consumer:
    """One MQTT client of the collector: ``on_message`` gets every message, ``on_connect`` every (re)connect."""

    def __init__(self, m: MqttConfig, on_message: Callable[[mqtt.MQTTMessage], None],
                 on_connect: Callable[[], None]) -> None:
        self.m = m
        self._on_message_cb, self._on_connect_cb = on_message, on_connect
        if m.protocol == "5":
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv5,
                                      manual_ack=True)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv311,
                                      clean_session=False, manual_ack=True)
        credentials(self.client, m)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self._pending: set[int] = set()  # mids of this connection's SUBSCRIBEs not yet acknowledged
        self.client.on_message = lambda client, userdata, msg: self._on_message_cb(msg)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused the connection: %s", reason)
            return
        m = self.m
        everything, statuses = topics.everything(m.prefix), topics.every_status(m.prefix)
        if not m.shared:  # one replica on a broker without shared subscriptions: one plain subscription
            sent = [client.subscribe(everything, qos=1)]
        elif m.protocol == "5":  # subscription identifiers tell the direct status copy from the shared one
            sent = [client.subscribe(statuses, options=SubscribeOptions(qos=1),
                                     properties=_subscription_id(STATUS_SUBSCRIPTION)),
                    client.subscribe(topics.shared(m.group, everything), options=SubscribeOptions(qos=1),
                                     properties=_subscription_id(SHARED_SUBSCRIPTION))]
        else:
            sent = [client.subscribe([(statuses, 1), (topics.shared(m.group, everything), 1)])]
        self._pending = {mid for rc, mid in sent if rc == mqtt.MQTT_ERR_SUCCESS and mid is not None}
        if not self._pending:  # nothing went out (the connection dropped): the reconnect subscribes again
            log.warning("could not send the subscriptions; waiting for the next connection")
        log.info("connected to %s:%s as %s (session present: %s)", m.host, m.port, m.client_id,
                 getattr(flags, "session_present", None))

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: object,
                      properties: object) -> None:
        """Connected means subscribed: the callback runs once the broker acknowledged every SUBSCRIBE (a message
        published between CONNACK and SUBACK would otherwise reach no subscription)."""
        self._pending.discard(mid)
        if not self._pending:
            self._on_connect_cb()

    def connect(self, stop: threading.Event) -> bool:
        """Connect (persistent session), retrying with backoff until it works; False when ``stop`` was set."""
        m = self.m
        props = _session_properties(m.session_expiry_s) if m.protocol == "5" else None
        retry = Retry(m.reconnect_min_s, m.reconnect_max_s)

        def attempt(delay: float) -> bool | None:
            try:
                if props is not None:
                    self.client.connect(m.host, m.port, keepalive=m.keepalive_s, clean_start=False, properties=props)
                else:  # MQTT 3.1.1: a persistent session is clean_session=False (set on the client)
                    self.client.connect(m.host, m.port, keepalive=m.keepalive_s)
                return True
            except (OSError, ssl.SSLError) as exc:
                if worth_logging(retry.attempt):
                    log.warning("cannot reach the broker at %s:%s (%s); retrying in %.1f s (attempt %d)", m.host,
                                m.port, exc, delay, retry.attempt)
                return None

        return not stop.is_set() and retrying(attempt, retry, stop) is not None

    def reconnect(self, stop: threading.Event) -> bool:
        """After a lost connection: reconnect with backoff; False when ``stop`` was set first."""
        retry = Retry(self.m.reconnect_min_s, self.m.reconnect_max_s)

        def attempt(delay: float) -> bool | None:
            try:
                if self.client.reconnect() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return True
            except (OSError, ssl.SSLError) as exc:
                if worth_logging(retry.attempt):
                    log.warning("reconnect failed (%s); retrying in %.1f s (attempt %d)", exc, delay, retry.attempt)
            return None

        return not stop.is_set() and retrying(attempt, retry, stop) is not None

    def loop(self, timeout: float) -> MQTTErrorCode:
        return self.client.loop(timeout=timeout)

    def is_connected(self) -> bool:
        return bool(self.client.is_connected())

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    def ack(self, acks: list[tuple[int, int]]) -> None:
        """PUBACK every QoS 1 message of a batch in ONE write (paho's ``ack`` sends one packet per message)."""
        packet = b"".join(PUBACK_HEADER.pack(PUBACK, 2, mid) for mid, qos in acks if qos == 1)
        if packet and self.client.is_connected():
            self.client._packet_queue(PUBACK, packet, 0, 1)
        for mid, qos in acks:
            if qos == 2:
                self.client.ack(mid, qos)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop(timeout=0.1)


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
    connect_args: dict[str, Any] = {"clean_start": True, "properties": _session_properties(0)} if v5 else {}
    client.connect(m.host, m.port, keepalive=m.keepalive_s, **connect_args)
    deadline = time.monotonic() + timeout
    while not accepted.is_set() and time.monotonic() < deadline:
        if client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
            break
    if accepted.is_set():
        client.disconnect()
        client.loop(timeout=0.2)
    return accepted.is_set()
