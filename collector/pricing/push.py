"""The label pusher: a thread of the collector (started when ``pricing.gateways`` names a gateway) that sends the
open label pushes (:mod:`collector.pricing.pushes`) as ``set_prices`` commands through its own
:class:`~collector.fleet.commander.Commander` (client id ``<mqtt.client_id>-pricing-fleet``) and records the
devices' replies.

Every ``poll_s``: fail what expired, give new pushes a command id, and (re-)send every command whose next send is
due, the same id each time, after ``common.retry`` backoff (``push.retry_min_s`` .. ``retry_max_s``) until the
device's reply settles it. While the broker is away nothing is published (the attempt only moves the next send
on); when the connection comes back every open command is sent at once. Replicas may all run it: they send the
same ids, the edge applies each once and every replica records the same outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from collector.config import MqttConfig
from collector.pricing.book import PriceBook
from collector.pricing.pushes import PushQueue
from collector.pricing.settings import PricingConfig
from contract.commands import Reply
from contract.events import utc_now

log = logging.getLogger("collector.pricing")


class LabelPusher:
    """``tick()`` sends what is due; ``start(stop)`` runs it every ``push.poll_s`` on its own thread."""

    def __init__(self, store: Any, mqtt: MqttConfig, config: PricingConfig) -> None:
        from collector.fleet.commander import Commander

        self.config = config.push
        self.queue = PushQueue(PriceBook(store))
        self.commander = Commander(mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-pricing"}), self.on_reply)
        self._was_connected = False

    def on_reply(self, reply: Reply) -> None:
        """A device's reply (the MQTT thread): settle the pushes it names."""
        if reply.command == "set_prices" and self.queue.record_reply(reply):
            log.info("pricing: %s/%s replied %s to %s", reply.store, reply.device, reply.state, reply.id)

    def tick(self, now: float | None = None) -> int:
        """Expire, issue and send what is due; how many commands were published."""
        now = time.time() if now is None else now
        self.queue.expire(now)
        self.queue.issue(self.config.max_labels, now)
        connected = self.commander.connected()
        back = connected and not self._was_connected  # the broker is back: re-send every open command now
        self._was_connected = connected
        sent = 0
        for command_id in self.queue.due(float("inf") if back else now):
            command = self.queue.command(command_id)
            if connected:
                self.commander.send(command, (command.expires - utc_now()).total_seconds())
                sent += 1
            self.queue.attempted(command_id, connected, self.config.retry_min_s, self.config.retry_max_s, now)
        return sent

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.poll_s):
            try:
                self.tick()
            except Exception:  # a store hiccup: the next tick tries again, the pushes are in the store
                log.exception("pricing: label push tick failed")
        self.commander.stop()

    def start(self, stop: threading.Event) -> threading.Thread:
        self.commander.start()
        thread = threading.Thread(target=self._run, args=(stop,), name="label-pusher", daemon=True)
        thread.start()
        return thread
