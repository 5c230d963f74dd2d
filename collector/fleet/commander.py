"""The collector's side of the command channel: publish signed commands to devices, hear their replies.

One MQTT 5 client (request/response needs MQTT 5 whatever ``mqtt.protocol`` says), client id
``<mqtt.client_id>-fleet``, persistent session (replies sent while the collector restarts wait at the broker).
A command goes to ``<prefix>/<store>/<device>/command`` at QoS 1 with the device's ``.../reply`` as response
topic (the one its ACL lets it publish on), the command id as correlation data and a message expiry, so the
broker drops it when the device stays offline past it. Replies on ``<prefix>/+/+/reply`` go to ``on_reply``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.config import MqttConfig
from collector.mqtt_consumer import credentials
from contract import topics
from contract.commands import Command, ContractError, Reply

log = logging.getLogger("smartstore.fleet")


class Commander:
    """``send`` commands, ``on_reply`` for every reply; ``start()`` connects (and reconnects) in the background."""

    def __init__(self, m: MqttConfig, on_reply: Callable[[Reply], None]) -> None:
        self.m = m
        self.on_reply = on_reply
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{m.client_id}-fleet",
                                  protocol=mqtt.MQTTv5)
        credentials(self.client, m)
        self.client.reconnect_delay_set(max(1, int(m.reconnect_min_s)), max(1, int(m.reconnect_max_s)))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("fleet: the broker refused the commands' connection: %s", reason)
            return
        client.subscribe(topics.every_reply(self.m.prefix), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            reply = Reply.parse(bytes(msg.payload))
        except ContractError as exc:
            log.warning("fleet: reply on %s ignored: %s", msg.topic, exc)
            return
        if topics.topic_device(msg.topic, self.m.prefix) != (reply.store, reply.device):
            log.warning("fleet: reply on %s names %s/%s: ignored", msg.topic, reply.store, reply.device)
            return
        try:
            self.on_reply(reply)
        except Exception:  # a store error must not take the connection down; the roll-out times the device out
            log.exception("fleet: reply %s %s not recorded", reply.command, reply.id)

    def start(self) -> Commander:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.m.session_expiry_s
        self.client.connect_async(self.m.host, self.m.port, keepalive=self.m.keepalive_s, clean_start=False,
                                  properties=props)
        self.client.loop_start()
        return self

    def connected(self) -> bool:
        return bool(self.client.is_connected())

    def send(self, command: Command, expiry_s: float) -> None:
        """Publish ``command`` (QoS 1; queued by paho while the connection is down)."""
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.reply_topic(command.store, command.device, self.m.prefix)
        props.CorrelationData = command.id.encode()
        props.MessageExpiryInterval = max(1, int(expiry_s))
        self.client.publish(topics.command_topic(command.store, command.device, self.m.prefix), command.to_json(),
                            qos=1, properties=props)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
