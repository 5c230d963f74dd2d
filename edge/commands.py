"""The edge's command channel (``docs/fleet.md``, Commands and signed bundles; ``docs/events.md``, Commands).

The MQTT thread hands every message on ``<prefix>/<store>/<device>/command`` to :meth:`CommandChannel.on_message`,
which answers at once (``accepted``, or ``failed``: malformed, for another device, expired) on the request's MQTT 5
response topic with its correlation data, and queues the command for one worker thread. The worker applies it
through a :class:`CommandHost` (the service: :mod:`edge.fleet_host`) and the :class:`~edge.bundles.BundleStore`,
then replies ``applied`` or ``failed`` with the reason. A command id already finished (:class:`CommandLog`, on
disk beside the outbox) is not applied again: its first reply is sent again, marked ``duplicate``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from contract.commands import Command, ContractError, Manifest, Reply, ReplyState, label_prices
from contract.topics import command_topic, reply_topic
from edge.artefacts import ArtefactRefused, Verifier
from edge.bundles import BundleStore
from edge.command_log import CommandLog
from edge.fetch import FetchError
from edge.fleet_config import FleetConfig

if TYPE_CHECKING:
    from edge.labels import PriceBoard

log = logging.getLogger("smartstore.fleet")
T = TypeVar("T")
#: ``send(topic, payload, correlation_data)``: publish one reply (QoS 1) from any thread
Send = Callable[[str, bytes, bytes | None], None]
UNKNOWN_ID = "0" * 32


class CommandFailed(Exception):
    """A command that could not be applied; the message is the reply's reason, ``detail`` the reply's detail."""

    def __init__(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.detail = detail or {}


class CommandHost(Protocol):
    """What commands need from the service. Called on the command worker thread; a host marshals what must run
    on its main thread itself (:class:`MainThreadCalls`). Raise ``ValueError`` with the reason to fail."""

    model_name: str  # the model bundles this box runs (``model.name``)

    def apply_config(self, config: dict[str, Any]) -> list[str]:
        """Apply a config manifest's ``config`` (lines, zones, trackers, shelves, thresholds); the cameras changed."""
        ...

    def restart_pipeline(self, model_dir: Path | None) -> None:
        """Load the detector again (from ``model_dir``, an activated model bundle, when given) and swap it in."""
        ...

    def status(self) -> dict[str, Any]:
        """What ``report_status`` replies with."""
        ...


class MainThreadCalls:
    """Calls queued by other threads, run by the service's main thread between frames (:meth:`run_pending`)."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()

    def call(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        future: Future[T] = Future()
        self._calls.put((fn, future))
        return future.result(timeout)

    def run_pending(self) -> None:
        while not self._calls.empty():
            fn, future = self._calls.get_nowait()
            try:
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)


@dataclass(frozen=True)
class Request:
    command: Command
    response_topic: str
    correlation: bytes | None


class CommandChannel:
    """Commands for ``store``/``device``: replies through ``send``, artefacts in ``fleet.bundle_dir``."""

    def __init__(self, fleet: FleetConfig, store: str, device: str, prefix: str, host: CommandHost, send: Send,
                 state_dir: Path, bundles: BundleStore | None = None, labels: PriceBoard | None = None) -> None:
        self.store, self.device, self.host, self._send = store, device, host, send
        self.labels = labels  # the shelf-label gateways (set_prices), when labels: is configured
        self.topic = command_topic(store, device, prefix)
        self.reply_topic = reply_topic(store, device, prefix)
        self.bundles = bundles or BundleStore(fleet.bundles, fleet.keep_versions)
        self.verifier = Verifier(fleet.public_keys, store, device, int(fleet.max_bundle_mb * 2**20))
        self.fleet = fleet
        self.log = CommandLog(state_dir / "commands.json", fleet.remember_commands)
        self._queue: queue.Queue[Request | None] = queue.Queue()
        self._pending: set[str] = set()
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> CommandChannel:
        self._thread = threading.Thread(target=self._work, name="commands", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the MQTT thread -------------------------------------------------------------------------------
    def on_message(self, payload: bytes, response_topic: str | None, correlation: bytes | None) -> None:
        """One request from the broker: answer at once, queue it for the worker when it is to be applied."""
        topic = response_topic if response_topic and not any(c in response_topic for c in "+#") else self.reply_topic
        try:
            command = Command.parse(payload)
        except ContractError as exc:
            log.error("fleet: command refused: %s", exc)
            self._reply(Request(Command("unknown", self.store, self.device, id=UNKNOWN_ID), topic, correlation),
                        "failed", f"malformed: {exc}")
            return
        request = Request(command, topic, correlation)
        if (command.store, command.device) != (self.store, self.device):
            self._refuse(request, f"for {command.store}/{command.device}, not {self.store}/{self.device}")
        elif command.expired():
            self._refuse(request, f"expired at {command.expires.isoformat()}")
        elif (done := self.log.get(command.id)) is not None:
            log.info("fleet: command %s %s arrived again: not applied twice", command.command, command.id)
            detail = dict(done.get("detail") or {}, duplicate=True)
            self._reply(request, done["state"], done.get("reason"), detail)
        elif command.id in self._pending:
            self._reply(request, "accepted", "duplicate: already queued")
        else:
            self._pending.add(command.id)
            self._reply(request, "accepted")
            self._queue.put(request)

    def _refuse(self, request: Request, reason: str) -> None:
        log.error("fleet: command %s %s refused: %s", request.command.command, request.command.id, reason)
        self._reply(request, "failed", reason)

    def _reply(self, request: Request, state: ReplyState, reason: str | None = None,
               detail: dict[str, Any] | None = None) -> Reply:
        command = request.command
        reply = Reply(command.id, command.command, self.store, self.device, state, reason, detail or {})
        self._send(request.response_topic, reply.to_json(), request.correlation)
        return reply

    # ---- the worker ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while (request := self._queue.get()) is not None:
            self.process(request)

    def process(self, request: Request) -> None:
        """Apply one accepted request and reply ``applied`` or ``failed`` (the worker thread; tests call it)."""
        command = request.command
        if command.expired():  # it waited behind a long download
            self._pending.discard(command.id)
            self._refuse(request, f"expired at {command.expires.isoformat()} before it could run")
            return
        try:
            detail = self.apply(command)
            state: ReplyState = "applied"
            reason = None
            log.info("fleet: command %s %s applied", command.command, command.id, extra={"detail": detail})
        except (CommandFailed, ArtefactRefused, FetchError, ValueError, OSError) as exc:
            state, reason = "failed", str(exc)
            detail = exc.detail if isinstance(exc, CommandFailed) else {}
            log.error("fleet: command %s %s failed: %s", command.command, command.id, reason)
        reply = self._reply(request, state, reason, detail)
        self.log.record(command.id, {"state": state, "reason": reason, "detail": reply.detail})
        self._pending.discard(command.id)

    def apply(self, command: Command) -> dict[str, Any]:
        """Run one command; its ``detail``, or an exception whose message is the reason it failed."""
        args = command.args
        if command.command == "apply_config":
            return self._artefact(args.get("config"), "config", rollback=False)
        if command.command == "deploy_model":
            return self._artefact(args.get("bundle"), "model", rollback=False)
        if command.command == "rollback":
            if "bundle" in args or "config" in args:
                kind = "model" if "bundle" in args else "config"
                return self._artefact(args.get("bundle", args.get("config")), kind, rollback=True)
            return self._rollback_on_disk(args.get("name") or self.host.model_name, args.get("version"))
        if command.command == "restart_pipeline":
            self.host.restart_pipeline(self.bundles.current_dir(self.host.model_name))
            return {}
        if command.command == "report_status":
            return dict(self.host.status(), bundles=self.bundles.describe())
        if command.command == "set_prices":
            return self._set_prices(command)
        raise CommandFailed(f"unknown command {command.command!r}")

    def _set_prices(self, command: Command) -> dict[str, Any]:
        """Every price onto its label; ``failed`` (with every label's result) when any label failed."""
        if self.labels is None:
            raise CommandFailed("set_prices: this box has no labels: section in edge.yaml (docs/labels.md)")
        results = self.labels.set_prices(label_prices(command))
        detail = {"labels": [r.to_dict() for r in results]}
        failed = [r for r in results if r.state == "failed"]
        if failed:
            raise CommandFailed(f"{len(failed)} of {len(results)} labels failed: {failed[0].reason}", detail)
        return detail

    def _artefact(self, signed: Any, kind: str, rollback: bool) -> dict[str, Any]:
        """Verify, install (fetch) and activate a signed model or config manifest."""
        name = self._signed_name(signed) or (self.host.model_name if kind == "model" else "config")
        current = self.bundles.current(name)
        manifest = self.verifier.check(signed, kind, current, rollback)
        if kind == "model" and manifest.name != self.host.model_name:
            raise ArtefactRefused(f"model {manifest.name} refused: this box runs {self.host.model_name}")
        if manifest.version == current:
            return {"name": name, "version": current, "note": "already active"}
        self.bundles.install(signed, manifest, self.fleet.fetch_timeout_s, self.fleet.fetch_attempts)
        self._switch(manifest, current)
        return {"name": manifest.name, "version": manifest.version, "previous": current}

    def _switch(self, manifest: Manifest, previous: int | None) -> None:
        """Make an installed version active and the service use it; back to ``previous`` when the service cannot."""
        name = manifest.name
        if manifest.type == "config":
            self.host.apply_config(manifest.config)  # before the switch: a config that does not apply stays inactive
            self.bundles.activate(name, manifest.version)
            return
        self.bundles.activate(name, manifest.version)
        try:
            self.host.restart_pipeline(self.bundles.current_dir(name))
        except ValueError as exc:
            if previous is not None:
                self.bundles.activate(name, previous)
            else:
                self.bundles.deactivate(name)  # back to model.name from models/, as before the first bundle
            raise CommandFailed(f"model {name} version {manifest.version} does not load, kept version "
                                f"{previous}: {exc}") from None

    def _rollback_on_disk(self, name: str, version: int | None) -> dict[str, Any]:
        current = self.bundles.current(name)
        target = version if version is not None else self.bundles.previous(name)
        if target is None or target not in self.bundles.versions(name):
            raise CommandFailed(f"rollback of {name}: no version {target if target else 'before ' + str(current)} "
                                f"on this box (have {self.bundles.versions(name)})")
        signed = self.bundles.signed(name, target)
        manifest = self.verifier.check(signed, signed.get("body", {}).get("type", "model"), current, rollback=True)
        self.bundles.verify(name, target, manifest)
        self._switch(manifest, current)
        return {"name": name, "version": target, "previous": current}

    @staticmethod
    def _signed_name(signed: Any) -> str | None:
        body = signed.get("body") if isinstance(signed, dict) else None
        name = body.get("name") if isinstance(body, dict) else None
        return name if isinstance(name, str) and name and "/" not in name and not name.startswith(".") else None

    def active_configs(self) -> list[dict[str, Any]]:
        """The ``config`` of every active config bundle, re-verified (the service applies them at start-up)."""
        found = []
        for name, info in self.bundles.describe().items():
            if info["current"] is None:
                continue
            try:
                manifest = self.verifier.check(self.bundles.signed(name, info["current"]), "config", None)
            except (ArtefactRefused, OSError, ValueError):
                continue  # a model bundle, or one that no longer verifies (a revoked key): not applied
            found.append(manifest.config)
        return found
