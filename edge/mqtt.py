"""MQTT publisher: drains the outbox to the broker with QoS 1 and deletes events only after their PUBACK.

One thread owns the paho-mqtt 2.x client (no paho background thread): it connects (MQTT 5 by default,
``clean_start=False`` with a session expiry, or 3.1.1 with ``clean_session=False``), publishes the retained
``online`` status (the last will says ``offline``), then loops: publish the backlog in sequence order within an
in-flight window and a token-bucket rate, read PUBACKs, delete acknowledged rows. A wrong or absent broker,
refused credentials or unreadable certificates are logged in one clear line each and retried with exponential
backoff and jitter; the thread never gives up until ``stop``.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig
from edge.events import status_payload, status_topic, utc_now
from edge.outbox import Outbox

log = logging.getLogger("smartstore.mqtt")


class TlsFileError(OSError):
    """A TLS file named in the config cannot be read."""


def jittered(base: float, attempt: int, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [base/2, min(cap, base * 2**attempt)]."""
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return random.uniform(min(base / 2, ceiling), ceiling)


@dataclass
class PublisherStats:
    connected: bool = False
    connects: int = 0
    published: int = 0
    acked: int = 0
    rejected: int = 0
    last_error: str | None = None


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


class Publisher:
    """Publishes ``outbox`` to the broker in ``config`` as device ``device`` of ``store``."""

    def __init__(self, config: MqttConfig, store: str, device: str, outbox: Outbox,
                 client_id: str | None = None, announce: bool = True) -> None:
        """``announce=False`` (``edge check``): no last will and no online/offline status messages."""
        self.config = config
        self.store = store
        self.device = device
        self.outbox = outbox
        self.client_id = client_id or config.client_id or device
        self.status_topic = status_topic(store, device, config.topic_prefix)
        self.announce = announce
        self.stats = PublisherStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flush_deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._acks: list[int] = []
        self._cursor = -1  # newest seq handed to paho on this client
        self._connected = False
        self._bucket = _TokenBucket(config.drain_rate)

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

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

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected:
                return True
            time.sleep(0.02)
        return self._connected

    @property
    def connected(self) -> bool:
        return self._connected

    # ---- client ----------------------------------------------------------------------------------------
    def _new_client(self) -> paho.Client:
        cfg = self.config
        v5 = cfg.protocol == "5"
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                             clean_session=None if v5 else False)
        client.max_inflight_messages_set(0)  # our own window (cfg.inflight) bounds it; paho's is O(n) per ack
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None:
            client.tls_set_context(self._tls_context())
            client.tls_insecure_set(cfg.tls.insecure)
        if self.announce:
            client.will_set(self.status_topic, status_payload(self.store, self.device, "offline", utc_now()),
                            qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _tls_context(self) -> ssl.SSLContext:
        tls = self.config.tls
        assert tls is not None
        for field, path in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
            if path is not None and not os.access(path, os.R_OK):
                reason = "does not exist" if not path.exists() else "is not readable"
                raise TlsFileError(f"mqtt.tls.{field} = {str(path)!r} {reason}")
        try:
            context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
            if tls.cert is not None:
                context.load_cert_chain(str(tls.cert), str(tls.key))
        except (ssl.SSLError, OSError) as exc:
            raise TlsFileError(f"mqtt.tls: cannot load certificates ({tls.ca}, {tls.cert}, {tls.key}): {exc}") from None
        if tls.insecure:
            context.check_hostname = False
        return context

    def _connect(self, client: paho.Client) -> None:
        cfg = self.config
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = cfg.session_expiry_s
            client.connect(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False, properties=props)
        else:
            client.connect(cfg.host, cfg.port, cfg.keepalive_s)

    def _on_connect(self, client: paho.Client, _u: object, flags: paho.ConnectFlags, reason: ReasonCode,
                    _p: object) -> None:
        if reason.is_failure:
            self.stats.last_error = f"broker refused the connection: {reason}"
            log.error("mqtt: broker %s:%d refused client %r: %s (check mqtt.username/password/client_id)",
                      self.config.host, self.config.port, self.client_id, reason)
            return
        self._connected = True
        self.stats.connected = True
        self.stats.connects += 1
        self.stats.last_error = None
        if self.announce:
            client.publish(self.status_topic, status_payload(self.store, self.device, "online"), qos=1, retain=True)
        log.info("mqtt: connected to %s:%d as %r (session present: %s, backlog %d)", self.config.host,
                 self.config.port, self.client_id, flags.session_present, len(self.outbox))

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if self._connected and not self._stop.is_set():
            log.warning("mqtt: disconnected from %s:%d: %s", self.config.host, self.config.port, reason)
        self._connected = False
        self.stats.connected = False

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # the status message
        if reason.is_failure:
            self.stats.rejected += 1
            log.error("mqtt: broker rejected event seq %d: %s (dropped)", seq, reason)
        self._acks.append(seq)

    # ---- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        client: paho.Client | None = None
        attempt = 0
        cfg = self.config
        while not self._should_exit():
            try:
                if client is None:
                    client = self._new_client()
                    self._inflight.clear()
                    self._cursor = -1
                self._connect(client)
            except (OSError, ValueError) as exc:
                if isinstance(exc, TlsFileError):
                    client = None  # re-read the files next time: they may be deployed later
                delay = jittered(cfg.reconnect.min_s, attempt, cfg.reconnect.max_s)
                attempt += 1
                self.stats.last_error = _describe(exc)
                log.error("mqtt: cannot connect to %s:%d: %s; retrying in %.1f s (backlog %d)", cfg.host, cfg.port,
                          self.stats.last_error, delay, len(self.outbox))
                self._stop.wait(delay)
                continue
            if self._session(client):
                attempt = 0
            if self._stop.is_set():
                break
            delay = jittered(cfg.reconnect.min_s, attempt, cfg.reconnect.max_s)
            attempt += 1
            log.warning("mqtt: reconnecting to %s:%d in %.1f s (backlog %d)", cfg.host, cfg.port, delay,
                        len(self.outbox))
            self._stop.wait(delay)
        if client is not None:
            self._shutdown(client)

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
                published = self._publish_some(client)
                if self._should_exit():
                    return accepted
            if not published and not self._inflight:
                self._wake.wait(0.05)  # idle: until the pipeline enqueues something
                self._wake.clear()

    def _publish_some(self, client: paho.Client) -> int:
        """Hand the next events to paho within the in-flight window and the drain rate; returns how many."""
        room = self.config.inflight - len(self._inflight)
        if room <= 0 or self.outbox.last_seq <= self._cursor:
            return 0
        room = self._bucket.take(room)
        if room <= 0:
            return 0
        items = self.outbox.pending(after=self._cursor, limit=room)
        for item in items:
            info = client.publish(item.topic, item.payload, qos=1)
            self._inflight[info.mid] = item.seq
            self._cursor = item.seq
        self.stats.published += len(items)
        if not items:
            self._cursor = self.outbox.last_seq  # the rest was dropped under the disk cap
        return len(items)

    def _flush_acks(self) -> None:
        if self._acks:
            acks, self._acks = self._acks, []
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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TlsFileError):
        return str(exc)
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
