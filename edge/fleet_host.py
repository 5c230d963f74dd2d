"""The service's side of the command channel: :class:`ServiceHost` is the :class:`edge.commands.CommandHost` of an
:class:`edge.service.EdgeService`, and :func:`attach_commands` wires a channel to its publisher.

What a command may change while the service runs (``apply_config``): per camera ``lines``, ``zones`` (the SIGHUP
reload path), ``tracker`` (a new tracker), ``shelf`` and ``shadow`` (the shelf pipeline or the shadow candidate is
loaded off the main thread, then swapped in; ``shadow: null`` stops one), and ``model.confidence`` (the detector
is loaded again). Anything else needs a new ``edge.yaml``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.commands import CommandChannel, MainThreadCalls, Send
from edge.config import EdgeConfig, parse_config

if TYPE_CHECKING:
    import paho.mqtt.client as paho

    from edge.labels import PriceBoard
    from edge.mqtt import Publisher
    from edge.service import EdgeService

log = logging.getLogger("smartstore.fleet")
CAMERA_FIELDS = {"lines", "zones", "tracker", "shelf", "shadow"}
MODEL_FIELDS = {"confidence"}


def merged_config(config: EdgeConfig, update: dict[str, Any]) -> EdgeConfig:
    """``config`` with a config manifest's ``{cameras: {ID: {...}}, model: {...}}`` applied; ``ValueError`` naming
    what a command may not change, or what does not validate."""
    unknown = set(update) - {"cameras", "model"}
    if unknown:
        raise ValueError(f"a config command changes only cameras and model, not {sorted(unknown)}")
    data = config.model_dump()
    cameras = {c["id"]: c for c in data["cameras"]}
    for cam_id, fields in (update.get("cameras") or {}).items():
        if cam_id not in cameras:
            raise ValueError(f"no camera {cam_id!r} on this box (have {sorted(cameras)})")
        if set(fields) - CAMERA_FIELDS:
            raise ValueError(f"cameras.{cam_id}: only {sorted(CAMERA_FIELDS)} change by command, not "
                             f"{sorted(set(fields) - CAMERA_FIELDS)}")
        cameras[cam_id].update(fields)
    model = update.get("model") or {}
    if set(model) - MODEL_FIELDS:
        raise ValueError(f"model: only {sorted(MODEL_FIELDS)} change by command, not "
                         f"{sorted(set(model) - MODEL_FIELDS)}")
    data["model"].update(model)
    return parse_config(data, "config command")


class ServiceHost:
    """Applies commands to ``service``: main-thread work goes through :attr:`calls` (run between frames)."""

    def __init__(self, service: EdgeService) -> None:
        self.service = service
        self.calls = MainThreadCalls()
        self.model_name = service.config.model.name
        self.model_dir: Path | None = None  # the active model bundle, when there is one
        self.channel: CommandChannel | None = None

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.stop()
            if self.channel.labels is not None:
                self.channel.labels.close()

    def pipeline_config(self) -> EdgeConfig:
        """The config to load the detector from: ``model.name`` is the active model bundle's folder, if any."""
        config = self.service.config
        if self.model_dir is None or not (self.model_dir / "model.yaml").is_file():
            return config
        return config.model_copy(update={"model": config.model.model_copy(update={"name": str(self.model_dir)})})

    def apply_config(self, config: dict[str, Any]) -> list[str]:
        from edge.shadow import load_shadow
        from edge.shelf_loader import load_shelf_pipeline, shelf_errors

        service = self.service
        fresh = merged_config(service.config, config)
        old = {c.id: c for c in service.config.cameras}
        model_before = service.config.model
        shelves: dict[str, Any] = {}
        for cam in fresh.cameras:
            if cam.shelf is not None and cam.shelf != old[cam.id].shelf:
                try:  # loaded here, off the frame loop; swapped in below
                    shelves[cam.id] = load_shelf_pipeline(cam.shelf.resolved().model_copy(
                        update={"person_detector": None}))
                except shelf_errors() as exc:
                    raise ValueError(f"cameras.{cam.id}.shelf: {exc}") from None
        live = service.pipeline.model if service.pipeline is not None else None
        shadows = {cam.id: None if cam.shadow is None else load_shadow(cam, i, live, fresh.model.confidence,
                                                                       fresh.intervals_s, "config command")
                   for i, cam in enumerate(fresh.cameras) if cam.shadow != old[cam.id].shadow}

        def swap() -> list[str]:
            changed = service.apply_cameras(fresh)
            for cam in fresh.cameras:
                if cam.shelf is None:
                    service.shelves.pop(cam.id, None)
                elif cam.id in shelves:
                    service.shelves[cam.id] = shelves[cam.id]
            for cam_id, runner in shadows.items():  # the old candidate reports its interval so far, then goes
                previous = service.shadows.pop(cam_id, None)
                if previous is not None:
                    service.emit_shadow(cam_id, previous)
                if runner is not None:
                    service.shadows[cam_id] = runner
            service.config = service.config.model_copy(update={"model": fresh.model})
            return changed + sorted((set(shelves) | set(shadows)) - set(changed))

        changed = self.calls.call(swap)
        if fresh.model != model_before and service.pipeline is not None:  # a threshold the detector applies
            self.restart_pipeline(self.model_dir)
        return changed

    def restart_pipeline(self, model_dir: Path | None) -> None:
        from edge.pipeline import load_pipeline

        previous, self.model_dir = self.model_dir, model_dir
        try:
            pipeline = load_pipeline(self.pipeline_config(), "command")
        except ValueError:
            self.model_dir = previous
            raise
        self.service.next_pipeline = pipeline  # the frame loop swaps it in after the frames in flight

    def status(self) -> dict[str, Any]:
        service = self.service
        pipeline = service.pipeline
        return {"model": service.config.model.name, "engine": pipeline and pipeline.engine,
                "precision": pipeline and pipeline.precision, "frames": service.frames,
                "cameras": {c: cam.state for c, cam in service.cameras.items()},
                "outbox": service.outbox.stats().as_dict(), "mqtt_connected": service.publisher.connected}


def price_board(config: EdgeConfig) -> PriceBoard | None:
    """The shelf-label gateways of ``labels:`` (set_prices), files beside the outbox unless ``labels.folder``."""
    if config.labels is None:
        return None
    from edge.labels import PriceBoard

    labels = config.labels if config.labels.folder else config.labels.resolved(Path(), config.outbox.path)
    assert labels.folder is not None
    return PriceBoard(labels, labels.folder)


def reply_properties(correlation: bytes | None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    if correlation is not None:
        props.CorrelationData = correlation
    return props


def attach_commands(service: EdgeService) -> ServiceHost | None:
    """With ``fleet:`` configured: a command channel on ``service``'s publisher; the active signed config bundles
    applied to its config now (before the counters are built) and the active model bundle used for the detector."""
    config = service.config
    fleet = config.fleet
    if fleet is None:
        if config.labels is not None:
            log.warning("labels: is configured but fleet: is not: no set_prices command can reach this box")
        return None
    if fleet.bundle_dir is None:
        fleet = fleet.resolved(Path(), config.outbox.path)
    host = ServiceHost(service)
    channel = CommandChannel(fleet, config.store, config.device, config.mqtt.topic_prefix, host,
                             publisher_send(service.publisher), config.outbox.path.parent,
                             labels=price_board(config))
    host.channel = channel
    host.model_dir = channel.bundles.current_dir(host.model_name)
    for update in channel.active_configs():
        service.config = merged_config(service.config, update)
    listen(service.publisher, channel)
    channel.start()
    return host


def publisher_send(publisher: Publisher) -> Send:
    """Replies through ``publisher``'s connection, with the request's correlation data."""
    return lambda topic, payload, correlation: publisher.send(topic, payload, reply_properties(correlation))


def listen(publisher: Publisher, channel: CommandChannel) -> None:
    """Hand ``channel`` the messages on its command topic, with their response topic and correlation data."""
    def on_message(msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        try:
            channel.on_message(bytes(msg.payload), getattr(props, "ResponseTopic", None),
                               getattr(props, "CorrelationData", None))
        except Exception:  # a bug here must not take the publisher's connection down
            log.exception("fleet: command on %s not handled", msg.topic)

    publisher.listen(channel.topic, on_message)
