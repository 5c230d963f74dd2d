"""Approved prices to the store's label gateway through a real Mosquitto (stores on SQLite and PostgreSQL), as
``set_prices`` commands: the device's replies settle each price (applied, failed with the reason, a duplicate reply
changes nothing), and a broker outage (the test's Mosquitto stopped and started again) costs re-sends of the SAME
command id, never a second id for a price. The device here is a peer on the broker that records what it hears and
answers as the edge's command channel does (accepted, then the per-price results; a repeated id gets its first
reply again); the edge's own handler is exercised end to end in test_pricing_e2e.py."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.pricing.approval import approve, repush
from collector.pricing.book import PriceBook, PricingError
from collector.pricing.evaluate import evaluate_store
from collector.pricing.push import LabelPusher
from collector.pricing.pushes import PushQueue
from collector.store import Store
from contract.commands import Command, LabelResult, Reply, ReplyState
from contract.topics import command_topic
from tests.collector.conftest import wait_for
from tests.collector.pricing_helpers import config, seeded
from tools.broker import LocalBroker

GATEWAY = "labels-gw"
FAST = {"demand.enabled": False, "gateways": {"s1": GATEWAY}, "push.retry_min_s": 0.3, "push.retry_max_s": 0.6,
        "push.poll_s": 0.1}


class Device:
    """The label gateway's box on the broker: records every command, answers when ``answering``."""

    def __init__(self, port: int, fail: set[str] | None = None) -> None:
        self.heard: list[tuple[str, bytes]] = []
        self.done: dict[str, Reply] = {}
        self.answering = True
        self.fail = fail or set()  # SKUs whose label fails
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="device-labels-gw", protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(command_topic("s1", GATEWAY), qos=1)
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        command = Command.parse(bytes(msg.payload))
        self.heard.append((command.id, bytes(msg.payload)))
        if not self.answering:
            return
        reply = self.done.get(command.id)
        if reply is None:
            self._send(msg, Reply(command.id, command.command, "s1", GATEWAY, "accepted"))
            results = [LabelResult(p["price_id"], "failed" if p["sku"] in self.fail else "applied",
                                   "tag 0000021EC9EC7440 did not answer" if p["sku"] in self.fail else None).to_dict()
                       for p in command.args["labels"]]
            state: ReplyState = "failed" if any(r["state"] == "failed" for r in results) else "applied"
            reply = Reply(command.id, command.command, "s1", GATEWAY, state,
                          "a label failed" if state == "failed" else None, {"labels": results})
            self.done[command.id] = reply
        self._send(msg, reply)

    def _send(self, request: mqtt.MQTTMessage, reply: Reply) -> None:
        asked: Any = request.properties
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = asked.CorrelationData
        self.client.publish(asked.ResponseTopic, reply.to_json(), qos=1, properties=props)

    def ids(self) -> set[str]:
        return {i for i, _ in self.heard}

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _approved(store: Store, cfg: Any, skus: list[str]) -> dict[str, str]:
    book = PriceBook(store)
    evaluate_store(store, "s1", cfg)
    pending = {r["sku"]: r["id"] for r in book.pending("s1")}
    for sku in skus:
        approve(book, cfg.pricing, pending[sku], "alice")
    return {sku: pending[sku] for sku in skus}


def _states(store: Store) -> dict[str, dict[str, Any]]:
    return {p["sku"]: p for p in PushQueue(PriceBook(store)).pushes("s1")}


def test_replies_settle_each_price_and_a_duplicate_changes_nothing(broker: LocalBroker, store: Store,
                                                                    store_url: tuple[str, str | None]) -> None:
    seeded(store, time.time())
    cfg = config(*store_url, FAST)
    cfg.mqtt.port = broker.port
    device = Device(broker.port, fail={"oat-milk"})
    stop = threading.Event()
    pusher = LabelPusher(store, cfg.mqtt, cfg.pricing)
    thread = pusher.start(stop)
    try:
        ids = _approved(store, cfg, ["milk", "oat-milk"])
        wait_for(lambda: {s["state"] for s in _states(store).values()} == {"applied", "failed"}, 15, "the replies")
        states = _states(store)
        assert states["milk"]["state"] == "applied" and states["milk"]["reason"] is None
        assert states["oat-milk"]["state"] == "failed"
        assert states["oat-milk"]["reason"] == "tag 0000021EC9EC7440 did not answer"
        assert len(device.ids()) == 1  # one gateway: both prices in one command
        command = Command.parse(device.heard[0][1])
        assert command.command == "set_prices" and command.device == GATEWAY
        sent = {p["price_id"]: p for p in command.args["labels"]}
        assert sent[ids["milk"]] == {"price_id": ids["milk"], "sku": "milk", "label": "0000021EC9EC743A",
                                     "price": 2.0, "currency": "EUR", "was": None, "promo": None}
        book = PriceBook(store)
        audit = [(a["action"], a["actor"], a["reason"]) for a in book.audit_log("s1", "oat-milk")]
        assert audit[-1] == ("push_failed", f"s1/{GATEWAY}", "tag 0000021EC9EC7440 did not answer")
        assert book.audit_log("s1", "milk")[-1]["action"] == "push_applied"
        before = len(book.audit_log("s1", "milk"))
        pusher.on_reply(device.done[command.id])  # the edge re-sends a recorded reply: nothing changes
        assert len(book.audit_log("s1", "milk")) == before and _states(store)["milk"]["state"] == "applied"
        time.sleep(1.0)
        assert len(device.heard) == 1  # settled: never sent again
        with pytest.raises(PricingError, match="is applied, not failed"):
            repush(book, cfg.pricing, "s1", "milk", "alice")
        device.fail.clear()  # the tag answers again: a person pushes oat milk's price again, as a new price id
        again = repush(book, cfg.pricing, "s1", "oat-milk", "alice")
        assert again["id"] != ids["oat-milk"] and again["price"] == 3.0 and again["decided_by"] == "alice"
        wait_for(lambda: _states(store)["oat-milk"]["state"] == "applied", 15, "the re-push")
        assert _states(store)["oat-milk"]["price_id"] == again["id"] and len(device.ids()) == 2
        assert book.audit_log("s1", "oat-milk")[-3]["reason"] == (f"re-push of price {ids['oat-milk']} (its push "
                                                                 "failed: tag 0000021EC9EC7440 did not answer)")
    finally:
        stop.set()
        thread.join(10)
        device.stop()


def test_broker_outage_resends_the_same_command_id(broker: LocalBroker, store: Store,
                                                   store_url: tuple[str, str | None]) -> None:
    seeded(store, time.time())
    cfg = config(*store_url, FAST)
    cfg.mqtt.port = broker.port
    device = Device(broker.port)
    device.answering = False  # the box is busy: no reply yet, the collector keeps re-sending
    stop = threading.Event()
    pusher = LabelPusher(store, cfg.mqtt, cfg.pricing)
    thread = pusher.start(stop)
    try:
        first = _approved(store, cfg, ["milk"])
        wait_for(lambda: len(device.heard) >= 3, 15, "re-sends to a silent device")
        assert len(device.ids()) == 1 and len({payload for _, payload in device.heard}) == 1  # same id, same bytes
        broker.stop()
        second = _approved(store, cfg, ["yoghurt"])  # approved while the broker is down
        time.sleep(1.5)
        heard_during = len(device.heard)
        assert _states(store)["yoghurt"]["state"] == "pending" and _states(store)["yoghurt"]["attempts"] >= 1
        broker.start()
        device.answering = True
        wait_for(lambda: {s["state"] for s in _states(store).values()} == {"applied"}, 30,
                 "the pushes after the outage")
        assert len(device.heard) > heard_during
        assert len(device.ids()) == 2  # one command per approval, each re-sent with its own id only
        per_price: dict[str, set[str]] = {}
        for command_id, payload in device.heard:
            for label in json.loads(payload)["args"]["labels"]:
                per_price.setdefault(label["price_id"], set()).add(command_id)
        assert set(per_price) == {first["milk"], second["yoghurt"]}
        assert all(len(ids) == 1 for ids in per_price.values())  # never a second command id for a price
        assert len(device.done) == 2  # the device applied each command once
        assert _states(store)["milk"]["attempts"] >= 3
    finally:
        stop.set()
        thread.join(10)
        device.stop()
