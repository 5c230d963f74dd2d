"""The MQTT connection under the publisher: one thread owns one paho-mqtt 2.x client (no paho background thread),
connects it (MQTT 5 with ``clean_start=False`` and a session expiry, or 3.1.1 with ``clean_session=False``, TLS and
credentials from ``mqtt:``) and reconnects it with the one backoff helper (:class:`common.retry.Retry`) until
``stop``. A wrong or absent broker, refused credentials or unreadable certificates are logged in one clear line
each and retried; the thread never gives up.

:class:`Connection` is the base of :class:`edge.mqtt.Publisher`, which runs each session (``_session``): what is
published, and when the thread may end (``_should_exit``).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.retry import Retry
from edge.config import MqttConfig

log = logging.getLogger("smartstore.mqtt")


class TlsFileError(OSError):
    """A TLS file named in the config cannot be read."""


@dataclass
class PublisherStats:
    connected: bool = False
    connects: int = 0
    published: int = 0
    acked: int = 0
    rejected: int = 0
    resent: int = 0
    receipt_seq: int | None = None
    last_error: str | None = None


class Connection:
    """Connects to the broker in ``config`` as ``client_id`` on its own thread, reconnecting until stopped."""

    def __init__(self, config: MqttConfig, client_id: str) -> None:
        self.config = config
        self.client_id = client_id
        self.stats = PublisherStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False

    # ---- what a subclass adds ----------------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        """How much waits to be sent (for the log lines)."""
        return 0

    def _will(self) -> tuple[str, bytes] | None:
        """``(topic, payload)`` of the last will (retained, QoS 1), or None."""
        return None

    def _on_new_client(self) -> None:
        """A fresh client: nothing is in flight on it."""

    def _on_connected(self, client: paho.Client) -> None:
        """The broker accepted the connection (every time, reconnects too)."""

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        """The broker acknowledged message ``mid``."""

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        """A message on a subscribed topic."""

    def _session(self, client: paho.Client) -> bool:
        """Run one connection until it drops (or stop); True if the broker accepted us."""
        raise NotImplementedError

    def _should_exit(self) -> bool:
        return self._stop.is_set()

    def _shutdown(self, client: paho.Client) -> None:
        """The thread ends: say goodbye and disconnect."""

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

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
        will = self._will()
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
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
        self._on_connected(client)
        log.info("mqtt: connected to %s:%d as %r (session present: %s, backlog %d)", self.config.host,
                 self.config.port, self.client_id, flags.session_present, self.backlog)

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if self._connected and not self._stop.is_set():
            log.warning("mqtt: disconnected from %s:%d: %s", self.config.host, self.config.port, reason)
        self._connected = False
        self.stats.connected = False

    # ---- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        client: paho.Client | None = None
        retry = Retry(self.config.reconnect.min_s, self.config.reconnect.max_s)
        cfg = self.config
        while not self._should_exit():
            try:
                if client is None:
                    client = self._new_client()
                    self._on_new_client()
                self._connect(client)
            except (OSError, ValueError) as exc:
                if isinstance(exc, TlsFileError):
                    client = None  # re-read the files next time: they may be deployed later
                delay = retry.next_delay()
                self.stats.last_error = describe_error(exc)
                log.error("mqtt: cannot connect to %s:%d: %s; retrying in %.1f s (backlog %d)", cfg.host, cfg.port,
                          self.stats.last_error, delay, self.backlog)
                self._stop.wait(delay)
                continue
            if self._session(client):
                retry.succeeded()
            if self._stop.is_set():
                break
            delay = retry.next_delay()
            log.warning("mqtt: reconnecting to %s:%d in %.1f s (backlog %d)", cfg.host, cfg.port, delay,
                        self.backlog)
            self._stop.wait(delay)
        if client is not None:
            self._shutdown(client)


def describe_error(exc: BaseException) -> str:
    """One line for a failed connect: the TLS file, the handshake, or the socket error."""
    if isinstance(exc, TlsFileError):
        return str(exc)
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
