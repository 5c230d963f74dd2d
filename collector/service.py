"""The collector process: the MQTT ingest thread plus the HTTP API/dashboard (uvicorn), sharing one store.

Extra API routers are picked up from :data:`ROUTER_MODULES` when those modules define
``collector_router(store: Store) -> fastapi.APIRouter | None``, or ``collector_router(store, config)`` when they
read the collector config (mounted under ``/api/v1`` behind the token check; ``None`` when there is nothing to serve
yet, e.g. no fitted model).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.config import CollectorConfig
from collector.ingest import Ingestor
from collector.metrics import Metrics
from collector.store import Store, open_store

log = logging.getLogger(__name__)
ROUTER_MODULES = ("collector.forecast.api", "collector.recommend.api", "collector.fleet.api",
                  "collector.pricing.api", "collector.sentiment.api", "collector.shelf_actions")
#: the ``smartstore`` command in this interpreter (``python -m smartstore`` would load smartstore.py twice, and
#: its ``UserError`` handler would then miss the errors the subcommands raise)
SMARTSTORE = [sys.executable, "-c", "import sys, smartstore; sys.exit(smartstore.main())"]


def extra_routers(store: Store, config: CollectorConfig | None = None) -> list[Any]:
    """Routers from :data:`ROUTER_MODULES` that define ``collector_router(store[, config]) -> APIRouter | None``;
    ``config``: the collector's (None: the defaults)."""
    config = config if config is not None else CollectorConfig.model_validate({})
    routers = []
    for name in ROUTER_MODULES:
        try:
            factory = getattr(importlib.import_module(name), "collector_router", None)
            if factory is None:
                continue
            takes_config = len(inspect.signature(factory).parameters) > 1
            router = factory(store, config) if takes_config else factory(store)
        except Exception:  # a broken extension must not take ingest down with it
            log.exception("could not mount the API routes of %s", name)
            continue
        if router is not None:
            routers.append(router)
    return routers


def build_app(store: Store, config: CollectorConfig, metrics: Metrics | None = None) -> Any:
    """The collector's whole HTTP app over ``store``: the API with every router of :data:`ROUTER_MODULES` that
    mounts (what ``smartstore collector run`` serves); ``ValueError`` without ``api.token``."""
    from collector.api import create_app

    return create_app(store, config.api.token or "", metrics, extra_routers(store, config), docs=config.api.docs,
                      bundles_dir=config.api.bundles_dir)


@dataclass
class Collector:
    """A running collector: ``start()`` then ``stop()``; ``url`` is the API base once started."""

    config: CollectorConfig
    api: bool = True
    metrics: Metrics = field(default_factory=Metrics)
    on_commit: Callable[[Any], None] | None = None

    def __post_init__(self) -> None:
        self.store = open_store(self.config.store, self.config.schema_name,
                                synchronous=self.config.sqlite_synchronous)
        self.ingestor = Ingestor(self.config, self.store, self.metrics, self.on_commit)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: Any = None

    @property
    def url(self) -> str:
        scheme = "https" if self.config.api.cert_file else "http"
        return f"{scheme}://{self.config.api.host}:{self.config.api.port}"

    def start(self) -> None:
        if self.api:
            self.config.api.check_tls()  # before any thread starts: a bad certificate is one line, exit 2
        ingest = threading.Thread(target=self.ingestor.run, args=(self._stop,), name="ingest", daemon=True)
        ingest.start()
        self._threads.append(ingest)
        if self.config.rollouts.enabled:  # staged roll-outs resume from the store (collector.fleet.rollout)
            from collector.fleet.rollout import RolloutService

            rollouts = self.config.rollouts
            self._threads.append(RolloutService(self.store, self.config.mqtt, rollouts.tick_s, rollouts.lease_s)
                                 .start(self._stop))
        if self.config.pricing.gateways:  # approved prices to the shelf labels (collector.pricing.push)
            from collector.pricing.push import LabelPusher

            self._threads.append(LabelPusher(self.store, self.config.mqtt, self.config.pricing).start(self._stop))
        if self.config.forecast.schedule.enabled:  # stale forecasts recomputed into the store
            from collector.forecast.schedule import ForecastScheduler

            self._threads.append(ForecastScheduler(self.store, self.config.forecast.schedule).start(self._stop))
        if self.api:
            import uvicorn

            if not self.config.api.token:
                raise ValueError("the API needs a token (api.token or SMARTSTORE_COLLECTOR_TOKEN)")
            api = self.config.api
            app = build_app(self.store, self.config, self.metrics)
            self.server = uvicorn.Server(uvicorn.Config(
                app, host=api.host, port=api.port, log_level="warning", access_log=False,
                ssl_certfile=api.cert_file and str(api.cert_file), ssl_keyfile=api.key_file and str(api.key_file)))
            self.server.install_signal_handlers = lambda: None  # the caller owns the signals
            web = threading.Thread(target=self.server.run, name="api", daemon=True)
            web.start()
            self._threads.append(web)

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """True once connected to the broker and (with the API) serving HTTP."""
        if not self.ingestor.connected.wait(timeout):
            return False
        if self.server is None:
            return True
        deadline = threading.Event()
        for _ in range(int(timeout * 20)):
            if self.server.started:
                return True
            deadline.wait(0.05)
        return False

    def stop(self) -> None:
        """Commit and acknowledge what is in hand, stop serving, close the store."""
        self._stop.set()
        if self.server is not None:
            self.server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=15)
        self.store.close()

    def run_forever(self) -> None:
        """Serve until SIGINT/SIGTERM."""
        import signal

        from common.sdnotify import Notifier

        notifier = Notifier()  # systemd Type=notify: READY once serving, WATCHDOG while every thread lives
        self.start()
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        broker = f"{self.config.mqtt.host}:{self.config.mqtt.port}"
        # Ready either way: the API serves what is stored while ingest keeps retrying an absent broker.
        notifier.ready(f"ingesting from {broker}" if self.wait_ready() else f"waiting for the broker at {broker}")
        log.info("collector running: broker %s:%s, store %s, api %s", self.config.mqtt.host, self.config.mqtt.port,
                 self.store, self.url if self.api else "off")
        while not done.wait(0.5):
            if not all(t.is_alive() for t in self._threads):
                log.error("a collector thread died; stopping")
                break
            notifier.watchdog()
        notifier.stopping("flushing the last batch")
        self.stop()
        notifier.close()
