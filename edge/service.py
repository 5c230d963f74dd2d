"""The edge service: cameras -> one shared detector -> people counting -> events -> outbox -> MQTT.

The only module that knows all the parts. The main thread runs the frame loop: it takes the newest frame of
each camera in turn and feeds them to one :class:`Detector` stream (the engine keeps several asynchronous
requests in flight, so cameras share one model instance), counts people per camera, and stores the resulting
events in the outbox in one transaction per frame; the MQTT thread drains the outbox. Health events go out
every ``health_interval_s`` and whenever a camera is lost or recovered.

Signals: SIGTERM/SIGINT finish the current frame, flush the counters and the outbox, mark the device offline
and exit 0; SIGHUP re-reads the config file and applies changed lines/zones (the tracker keeps its state).
Logs are one JSON object per line on stdout (journald-friendly).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.events import Event, ModelRef, Record
from edge.capture import Camera, Frame, SourceEvent
from edge.config import CameraConfig, ConfigError, EdgeConfig, load_config
from edge.fleet_host import attach_commands
from edge.health import CameraStats, CpuMeter, rate_fields
from edge.homeassistant import HomeAssistant
from edge.logs import configure_logging
from edge.metrics_http import start_metrics
from edge.mqtt import Publisher
from edge.outbox import Outbox
from edge.pipeline import Pipeline, Sensors, ShelfAnalyser, load_pipeline
from hardware.probe import hottest_temperature

if TYPE_CHECKING:
    from edge.analytics.counting import PeopleCounter
    from edge.shadow import ShadowRunner
    from edge.vision.detections import Detections

__all__ = ["EdgeService", "Pipeline", "configure_logging", "load_pipeline", "run_service"]
log = logging.getLogger("smartstore.service")


class EdgeService:
    """Runs until SIGTERM/SIGINT, or until every (non-looping) video file has ended."""

    def __init__(self, config: EdgeConfig, config_path: Path | None = None, pipeline: Pipeline | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.outbox = Outbox(config.outbox.path, config.outbox.cap_bytes, config.mqtt.topic_prefix,
                             config.outbox.synchronous)
        self.publisher = Publisher(config.mqtt, config.store, config.device, self.outbox, config.client_id)
        self.pipeline = pipeline
        self._frame_ready = threading.Event()
        self.cameras = {c.id: Camera(c, on_event=self._on_source_event, ready=self._frame_ready)
                        for c in config.cameras}
        self.counters: dict[str, PeopleCounter] = {}
        self.shelves: dict[str, ShelfAnalyser] = {}  # camera id -> ShelfPipeline (cameras with a shelf section)
        self._shelf_due: dict[str, float] = {}
        self.shadows: dict[str, ShadowRunner] = {}  # camera id -> candidate model beside the live one (shadow:)
        self.sensors: Sensors | None = None  # SensorHub when sensors.ports are configured
        self.stats = {c.id: CameraStats() for c in config.cameras}
        self._source_events: deque[SourceEvent] = deque()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._started = time.monotonic()
        self._last_health = time.monotonic()
        self._cpu = CpuMeter()
        self._dropped_reported = self.outbox.dropped_total
        self._drop_logged = -1e9
        self._size_checked: set[str] = set()
        self.frames = 0
        self.enqueue_s = 0.0  # wall time spent building and storing events (the per-frame publishing cost)
        self.enqueue_cpu_s = 0.0  # the same in CPU time of the frame-loop thread (insensitive to machine load)
        self.next_pipeline: Pipeline | None = None  # from a command (edge.fleet_host), swapped in between frames
        self.fleet = attach_commands(self)  # the command channel when fleet: is configured
        self.homeassistant = HomeAssistant(config) if config.homeassistant.enabled else None  # MQTT discovery

    # ---- signals ---------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())

    def stop(self) -> None:
        self._stop.set()

    def _on_source_event(self, event: SourceEvent) -> None:
        self._source_events.append(event)  # from grabber threads; turned into events on the main thread

    # ---- main loop -------------------------------------------------------------------------------------
    def run(self) -> int:
        from common.sdnotify import FrameWatchdog, Notifier

        notifier = Notifier()
        watchdog = FrameWatchdog(notifier)
        if self.pipeline is None:
            self.pipeline = load_pipeline(self.fleet.pipeline_config() if self.fleet else self.config,
                                          str(self.config_path or "<config>"))
        self._build_counters()
        self._build_shelves()
        self._build_shadows()
        if self.config.sensors.ports:
            from edge.sensors import SensorHub

            self.sensors = SensorHub(self.config.sensors).start()
        self.publisher.start()
        if self.homeassistant is not None:
            self.homeassistant.start()
        for camera in self.cameras.values():
            camera.start()
        self._emit([self._health_record(None, "startup")])
        log.info("service started", extra={"store": self.config.store, "device": self.config.device,
                                            "cameras": list(self.cameras), "engine": self.pipeline.engine,
                                            "precision": self.pipeline.precision, "backlog": len(self.outbox),
                                            "tiles": self._tiles()})
        notifier.ready(f"{len(self.cameras)} cameras, engine {self.pipeline.engine}")
        watchdog.start()
        stop_metrics = start_metrics(self)  # GET /metrics when metrics.enabled (edge/metrics_http.py)
        try:
            while True:
                for frame, detections in self.pipeline.detector.stream(self._frames()):
                    self._process(frame, detections)
                    watchdog.beat()
                if self.next_pipeline is None or self._stop.is_set():
                    break
                self.pipeline, self.next_pipeline = self.next_pipeline, None
                self._shadows_follow_pipeline()
        finally:
            watchdog.stop()
            notifier.stopping("flushing the outbox")
            stop_metrics()
            self._shutdown()
            notifier.close()
        return 0

    def _tiles(self) -> str | None:
        """``model.tiles`` as COLSxROWS for the start-up log (the shared detector tiles every camera's frames)."""
        tiles = self.config.model.tiles
        return None if tiles is None else f"{tiles.cols}x{tiles.rows}"

    def _frames(self) -> Iterator[tuple[Frame, Any]]:  # Any: the image, a numpy array
        """Round-robin over the cameras' newest frames; housekeeping between frames; ends on stop or all ended."""
        cameras = list(self.cameras.values())
        while not self._stop.is_set() and self.next_pipeline is None:
            self._housekeeping()
            got = False
            for camera in cameras:
                frame = camera.read(timeout=0)
                if frame is not None:
                    got = True
                    yield frame, frame.image
            if not got:
                if all(c.ended for c in cameras):
                    log.info("every source has ended")
                    return
                self._frame_ready.wait(0.05)  # set by any grabber with a new frame (or at a file's end)
                self._frame_ready.clear()

    def _process(self, frame: Frame, detections: Detections) -> None:
        counter = self.counters[frame.camera]
        if frame.camera not in self._size_checked:
            self._check_frame_size(frame, counter)
        result = counter.update(detections, frame.ts)
        stats = self.stats[frame.camera]
        stats.frames += 1
        stats.window_frames += 1
        stats.latencies_ms.append((time.monotonic() - frame.mono) * 1000)
        self.frames += 1
        if result.events:
            start, start_cpu = time.perf_counter(), time.thread_time()
            self._emit(result.events, frame.camera, self._model())
            self.enqueue_s += time.perf_counter() - start
            self.enqueue_cpu_s += time.thread_time() - start_cpu
        shadow = self.shadows.get(frame.camera)
        if shadow is not None:  # the candidate's agreement only: its boxes never become counts
            self._emit(shadow.observe(frame.image, frame.ts, detections, result.crossings), frame.camera)
        if frame.camera in self.shelves and frame.ts >= self._shelf_due.get(frame.camera, 0.0):
            self._shelf(frame, detections)

    def _shelf(self, frame: Frame, persons: Detections) -> None:
        """Shelf analytics on this frame (persons from the person model mark slots occluded, never empty)."""
        shelf = self.shelves[frame.camera]
        shelf_config = self._camera(frame.camera).shelf
        assert shelf_config is not None  # only cameras with a shelf section have a shelf pipeline
        self._shelf_due[frame.camera] = frame.ts + shelf_config.every_s
        result = shelf(frame.image, frame.ts, persons=persons)
        records = list(result.frame.events)
        if self.sensors is not None:  # the camera's stock state goes into the weight fusion of slots with a strip
            records += self.sensors.camera_events(result.frame.events)
        ref = getattr(getattr(shelf, "detector", None), "ref", None)  # the product detector (edge.detector.Detector)
        self._emit(records, frame.camera, ref if isinstance(ref, ModelRef) else None)

    def _camera(self, camera: str) -> CameraConfig:
        return next(c for c in self.config.cameras if c.id == camera)

    def _check_frame_size(self, frame: Frame, counter: PeopleCounter) -> None:
        """Once per camera (and after a reload): lines/zones outside the frame never count; say so loudly."""
        self._size_checked.add(frame.camera)
        height, width = frame.image.shape[:2]
        try:
            counter.config.check_frame(width, height)
        except ValueError as exc:
            log.error("camera %s: %s (check cameras[].lines/zones)", frame.camera, exc)

    def _model(self) -> ModelRef | None:
        """The person detector's model (what counting events carry)."""
        return self.pipeline.model if self.pipeline is not None else None

    def _emit(self, records: Iterable[Record], camera: str | None = None, model: ModelRef | None = None) -> None:
        """The one emit path: every producer's records (``camera``: where they come from, ``None`` for the device)
        become events (:meth:`Event.from_record`; ``model``: the model that produced them) and go into the outbox
        in one transaction."""
        store, device = self.config.store, self.config.device
        records = list(records)
        events = [Event.from_record(record, store, device, camera, model) for record in records]
        if self.homeassistant is not None:  # its sensors' values (counts, occupancy): copies, not events
            self.homeassistant.update(records, camera)
        if events:
            self.outbox.enqueue(events)
            self.publisher.notify()
            if self.outbox.dropped_total > self._dropped_reported and time.monotonic() - self._drop_logged >= 10:
                self._drop_logged = time.monotonic()
                stats = self.outbox.stats()
                log.warning("outbox over its %d-byte cap: dropped %d old events so far", stats.cap_bytes,
                            self.outbox.dropped_total, extra={"dropped": stats.dropped, "pending": stats.pending})
                self._dropped_reported = self.outbox.dropped_total

    def _housekeeping(self) -> None:
        while self._source_events:
            source = self._source_events.popleft()
            if source.state in ("lost", "recovered"):
                record = self._health_record(source.camera, f"camera_{source.state}", error=source.error)
                self._emit([record], source.camera)
        if self.sensors is not None:
            self._emit(self.sensors.drain(time.time()))
        if self._reload.is_set():
            self._reload.clear()
            self.reload()
        if self.fleet is not None:
            self.fleet.calls.run_pending()
        now = time.monotonic()
        if now - self._last_health >= self.config.health_interval_s:
            self._emit_health("periodic", now - self._last_health)
            self._last_health = now

    # ---- counters and reload ---------------------------------------------------------------------------
    def _build_counters(self) -> None:
        from edge.analytics.counting import PeopleCounter

        for cam in self.config.cameras:
            fps = cam.fps or 15.0
            self.counters[cam.id] = PeopleCounter(cam.counting(self.config.intervals_s), fps=fps)

    def _build_shelves(self) -> None:
        from edge.shelf_loader import load_shelf_pipeline, shelf_errors

        for i, cam in enumerate(self.config.cameras):
            if cam.shelf is None:
                continue
            try:  # our person model already runs on these frames: no second one
                shelf = cam.shelf.resolved().model_copy(update={"person_detector": None})
                self.shelves[cam.id] = load_shelf_pipeline(shelf)
            except shelf_errors() as exc:
                raise ConfigError(f"{self.config_path or '<config>'}: cameras[{i}].shelf: {exc}") from None
            log.info("shelf analytics on camera %s", cam.id, extra={"shelf": shelf.shelf, "every_s": cam.shelf.every_s})

    def _build_shadows(self) -> None:
        from edge.shadow import load_shadow

        for i, cam in enumerate(self.config.cameras):
            if cam.shadow is not None:
                self.shadows[cam.id] = load_shadow(cam, i, self._model(), self.config.model.confidence,
                                                   self.config.intervals_s, str(self.config_path or "<config>"))

    def _shadows_follow_pipeline(self) -> None:
        """A new live detector (a command): each shadow reports the interval so far, then compares with it."""
        for cam_id, shadow in self.shadows.items():
            self.emit_shadow(cam_id, shadow)
            shadow.live = self._model()

    def emit_shadow(self, camera: str, shadow: ShadowRunner) -> None:
        """The ``model.shadow`` of ``shadow``'s interval so far (a swap, shutdown)."""
        self._emit(shadow.flush(time.time()), camera)

    def reload(self) -> None:
        """SIGHUP: apply the lines/zones of the config file again; other changes need a restart."""
        if self.config_path is None:
            return
        try:
            fresh = load_config(self.config_path)
        except ValueError as exc:
            log.error("reload failed, keeping the current lines/zones: %s", exc)
            return
        log.info("reloaded lines/zones", extra={"changed_cameras": self.apply_cameras(fresh)})

    def apply_cameras(self, fresh: EdgeConfig) -> list[str]:
        """Take the lines, zones and tracker settings of ``fresh``'s cameras (SIGHUP, commands); the ids changed."""
        from edge.analytics.counting import PeopleCounter

        changed = []
        for cam in fresh.cameras:
            old = next((c for c in self.config.cameras if c.id == cam.id), None)
            if old is None or (old.lines, old.zones, old.tracker) == (cam.lines, cam.zones, cam.tracker):
                continue
            previous = self.counters[cam.id]
            self._emit(previous.flush(), cam.id, self._model())
            counter = PeopleCounter(cam.counting(fresh.intervals_s), fps=cam.fps or 15.0)
            if old.tracker == cam.tracker:
                counter.tracker = previous.tracker  # keep the tracks (and their ids) across the reload
            self.counters[cam.id] = counter
            self._size_checked.discard(cam.id)
            changed.append(cam.id)
        cameras = [next((f for f in fresh.cameras if f.id == c.id), c) for c in self.config.cameras]
        self.config = self.config.model_copy(update={"cameras": cameras})
        return changed

    # ---- health ----------------------------------------------------------------------------------------
    def _emit_health(self, reason: str, window_s: float) -> None:
        """One ``device.health`` for the device, then one per camera; starts the next fps window."""
        for camera in (None, *self.cameras):
            self._emit([self._health_record(camera, reason, window_s)], camera)
        for stats in self.stats.values():
            stats.window_frames = 0

    def _health_record(self, camera: str | None, reason: str, window_s: float | None = None,
                       error: str | None = None) -> Record:
        assert self.pipeline is not None
        window_s = window_s or max(time.monotonic() - self._last_health, 1e-6)
        data: dict[str, Any] = {"reason": reason, "uptime_s": round(time.monotonic() - self._started, 3)}
        if camera is None:
            data.update(rate_fields(list(self.stats.values()), window_s))
            data.update({
                "dropped_frames": sum(c.dropped for c in self.cameras.values()),
                "cpu_temp_c": hottest_temperature(),
                "cpu_percent": self._cpu.percent(),
                "engine": self.pipeline.engine, "accelerator": self.pipeline.device,
                "model": self.pipeline.model.to_dict() if self.pipeline.model else self.config.model.name,
                "outbox": self.outbox.stats().as_dict(),
                "mqtt_connected": self.publisher.connected,
            })
            if self.sensors is not None:
                from edge.analytics.doors import footfall_agreement

                camera_in = sum(line.count_in for c in self.counters.values() for line in c.lines)
                data["sensors"] = self.sensors.stats()
                data["footfall_agreement"] = footfall_agreement(camera_in, self.sensors.entered())
        else:
            cam = self.cameras[camera]
            data.update(rate_fields([self.stats[camera]], window_s))
            data.update({
                "dropped_frames": cam.dropped,
                "camera_state": {"starting": "reconnecting"}.get(cam.state, cam.state),
                "reconnects": cam.reconnects,
                "error": error,
            })
        return Record("device.health", data, time.time())

    # ---- shutdown --------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        for camera in self.cameras.values():
            camera.stop()
        for cam_id, counter in self.counters.items():
            self._emit(counter.flush(), cam_id, self._model())
        for cam_id, shadow in self.shadows.items():
            self.emit_shadow(cam_id, shadow)
        if self.sensors is not None:
            self.sensors.stop()
            self._emit(self.sensors.drain(time.time()))
        self._emit([self._health_record(None, "shutdown")])
        if self.fleet is not None:
            self.fleet.stop()
        drained = self.publisher.stop(flush_timeout=10.0)
        if self.homeassistant is not None:
            self.homeassistant.stop()
        log.info("service stopped", extra={"frames": self.frames, "outbox_pending": len(self.outbox),
                                            "drained": drained, "published": self.publisher.stats.acked})
        self.outbox.close()


def run_service(config_path: Path) -> int:
    """``smartstore edge run``: load the config, log JSON to stdout, run until SIGTERM."""
    config = load_config(config_path)
    configure_logging(config.log_level)
    service = EdgeService(config, config_path)
    service.install_signal_handlers()
    return service.run()
