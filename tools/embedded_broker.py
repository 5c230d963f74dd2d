"""An embedded MQTT broker (amqtt, pure Python) on a free loopback port, for ``smartstore demo`` where no
Mosquitto binary exists.

amqtt speaks MQTT 3.1.1 only (QoS 0-2, retained messages, wills, persistent sessions kept in memory) and has no
``$share/`` subscriptions: its clients use ``protocol: "3.1.1"`` and the collector ``mqtt.shared: false`` (one
replica). It runs on its own asyncio loop in a daemon thread of this process. Imports amqtt: import lazily.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

from tools.broker import free_port


class LoopbackAuth(BaseAuthPlugin):
    """Lets every client in (the broker listens on 127.0.0.1 only). amqtt's own anonymous plugin marks sessions
    anonymous, and it keeps no messages for anonymous sessions while they are away: no at-least-once."""

    async def authenticate(self, *, session: Any) -> bool:
        return True


class EmbeddedBroker:
    """An amqtt broker serving 127.0.0.1:``port``; ``start()`` returns once it listens, ``stop()`` shuts it down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Broker | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        logging.getLogger("amqtt").setLevel(logging.ERROR)  # it logs every dropped connection as a warning
        ready = threading.Event()
        failure: list[BaseException] = []
        config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                  "plugins": {f"{__name__}.LoopbackAuth": {}}}

        async def serve() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:
                failure.append(exc)
                loop.close()
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="embedded-mqtt-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"the embedded broker did not listen on port {self.port} within {timeout} s")
        if failure:
            raise RuntimeError(f"the embedded broker did not start on port {self.port}: {failure[0]}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread, broker = self._loop, self._thread, self._broker
        if loop is None or thread is None or broker is None or not thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = self._broker = None
