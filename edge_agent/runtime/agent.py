"""``retail-edge run``: every camera of a store, one shared detector, store-and-forward to central.

Threads: one reader per camera (:mod:`camera_worker`) and the sync worker, both
watched by the :mod:`supervisor` (a thread that dies is restarted, within
limits); the scheduler (:mod:`scheduler`: detection in batches across cameras,
tracking, zones, lines, heatmaps, behaviour, storage) in the calling thread;
and the health server. The scheduler's loop is the watchdog's: if it hangs,
systemd restarts the service.

Everything is committed to the local SQLite store before it is pushed. On SIGTERM
open tracks are closed into summaries, the heatmap and line buckets in progress are
stored (merged with the rest of the bucket after a restart), a last sync is tried
within ``runtime.shutdown_sync_s``, and the store is closed. SIGHUP re-reads the
configuration and adds, removes or restarts cameras (a failed one too); other
changes need a restart.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry

from edge_agent.config.loader import load_agent_config
from edge_agent.config.models import AgentConfig, CameraConfig
from edge_agent.ingest.video_source import VideoSource
from edge_agent.runtime.camera_worker import CameraWorker, SourceOpener
from edge_agent.runtime.health import AgentCollector, HealthServer
from edge_agent.runtime.models_in_use import ModelsInUse
from edge_agent.runtime.scheduler import Scheduler
from edge_agent.runtime.supervisor import Supervisor
from edge_agent.runtime.systemd import Notifier
from edge_agent.status import (
    AgentStatus,
    CameraStatus,
    Health,
    ModelInfo,
    SyncState,
    WorkerState,
)
from edge_agent.store.sqlite_store import EdgeStore
from edge_agent.sync.client import CentralClient
from edge_agent.sync.worker import SyncWorker
from edge_agent.updater.updater import ModelUpdater
from retail_common.config import ConfigError

logger = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
LOOP_STALE_S = 30.0  # /healthz turns 503 when the scheduler has not come round for this long
SYNC = "sync"  # the sync worker's name for the supervisor
UPDATER = "updater"  # the model updater's


def camera_thread(camera_id: str) -> str:
    return f"camera-{camera_id}"


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        config_path: Path | None = None,
        notifier: Notifier | None = None,
        open_source: SourceOpener = VideoSource,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.open_source = open_source
        self.stop = threading.Event()
        self._reload = threading.Event()
        self.supervisor = Supervisor(config.runtime.supervisor)
        self.workers: dict[str, CameraWorker] = {}
        self._camera_stops: dict[str, threading.Event] = {}
        self._loop_seen = time.monotonic()
        self.scheduler: Scheduler | None = None
        self.sync: SyncWorker | None = None
        self._sync_stop = threading.Event()
        self.health: HealthServer | None = None
        self.store: EdgeStore | None = None
        self.updater: ModelUpdater | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Opens everything; raises on a configuration that cannot work (before any thread starts)."""
        cfg = self.config
        # a bad token file fails here
        client = CentralClient(cfg.sync, cfg.updates.download_timeout_s) if cfg.sync is not None else None
        self.store = EdgeStore(cfg.store.path)
        self.updater = updater = ModelUpdater(cfg, client.download if client is not None else None)
        start = updater.start_models()  # the manifest's models, so a restart without network runs the last ones
        detector = start.detector
        models = ModelsInUse(start.detector, start.classifier, updater.swaps, updater, updater.limits)
        self.scheduler = Scheduler(cfg, self.store, start.detector, start.classifier, self.workers, self.stop, models)
        if client is not None and cfg.sync is not None:
            self.sync = SyncWorker(
                EdgeStore(cfg.store.path),
                client,
                cfg.sync,
                cfg.store_id,
                cfg.agent_id,
                status=self.status,
                on_assignments=updater.assign,
            )
            self._start_sync(self.sync)
            self.supervisor.start(UPDATER, lambda: updater.run(self._sync_stop))
        for camera in cfg.cameras:
            self._add_camera(camera)
        registry = CollectorRegistry()
        registry.register(AgentCollector(self.status))
        health = cfg.runtime.health
        self.health = HealthServer(health.host, health.port, self.status, registry)
        self.health.start()
        status = f"{len(self.workers)} camera(s), detector {detector.model_version}"
        logger.info(
            "store %s: agent %s running: %s, health on http://%s:%d/healthz",
            cfg.store_id,
            cfg.agent_id,
            status,
            health.host,
            self.health.port,
        )
        self.notifier.ready(status)

    def _start_sync(self, sync: SyncWorker) -> None:
        self.supervisor.start(SYNC, lambda: sync.run(self._sync_stop))

    def run(self) -> None:
        """Runs until SIGTERM/SIGINT (or every camera is a finished file), then shuts down cleanly."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            self.start()
            self.loop()
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("store %s: %s received, stopping", self.config.store_id, signal.Signals(signum).name)
        self.stop.set()

    def _on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self.request_reload()

    def request_reload(self) -> None:
        """The scheduler's loop calls :meth:`reload` on its next round (signal handlers must not block)."""
        self._reload.set()

    def loop(self) -> None:
        """The scheduler's loop, until :attr:`stop` is set or every camera is a file that has ended."""
        scheduler = self._scheduler()
        while not self.stop.is_set():
            self._loop_seen = time.monotonic()
            self.notifier.watchdog()
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            self.supervisor.check()
            if not scheduler.step(0.1) and scheduler.all_finished():
                logger.info("store %s: every camera is a file that has ended", self.config.store_id)
                break

    def shutdown(self) -> None:
        self.notifier.stopping()
        self.stop.set()
        for event in self._camera_stops.values():
            event.set()
        for camera_id in self.workers:
            self.supervisor.join(camera_thread(camera_id), 10)
        if self.scheduler is not None:
            self.scheduler.close()
        self._sync_stop.set()
        self.supervisor.join(UPDATER, 10)
        self.supervisor.join(SYNC, self.config.sync.timeout_s + 5 if self.config.sync else 5)
        if self.sync is not None and self.supervisor.is_alive(SYNC):
            # still inside a push (central slow to answer): leave it; what it has not marked is resent next start
            logger.warning("store %s: the sync thread is still busy; last sync skipped", self.config.store_id)
        elif self.sync is not None:
            left = self.sync.final_sync(self.config.runtime.shutdown_sync_s)
            logger.info("store %s: last sync %s", self.config.store_id, "complete" if left else "incomplete")
            self.sync.store.close()
            self.sync.client.close()
            self.sync = None
        if self.health is not None:
            self.health.stop()
            self.health = None
        if self.store is not None:
            self.store.close()
            self.store = None
        logger.info("store %s: agent stopped", self.config.store_id)

    def _scheduler(self) -> Scheduler:
        if self.scheduler is None:
            raise RuntimeError("the agent is not started")
        return self.scheduler

    # --- cameras ---------------------------------------------------------------------------------

    def _add_camera(self, camera: CameraConfig) -> None:
        stop = threading.Event()
        self._camera_stops[camera.id] = stop
        worker = CameraWorker(camera, self.config.runtime, stop, self.open_source)
        self.workers[camera.id] = worker
        self.supervisor.start(camera_thread(camera.id), worker.run)

    def _remove_camera(self, camera_id: str) -> None:
        self._camera_stops.pop(camera_id).set()
        self.supervisor.remove(camera_thread(camera_id)).join(10)
        worker = self.workers.pop(camera_id)
        self._scheduler().close_pipeline(camera_id)
        self._scheduler().close_uptime(worker)

    def reload(self) -> None:
        """Applies a changed camera list from the configuration file (SIGHUP); restarts failed workers."""
        if self.config_path is None:
            logger.warning("SIGHUP ignored: the agent was not started from a configuration file")
            return
        try:
            new = load_agent_config(self.config_path)
        except ConfigError as e:
            logger.error("SIGHUP: configuration not applied, the agent keeps running as it was: %s", e)
            return
        old = {c.id: c for c in self.config.cameras}
        wanted = {c.id: c for c in new.cameras}
        for camera_id in sorted(old.keys() - wanted.keys()):
            logger.info("camera %s: removed", camera_id)
            self._remove_camera(camera_id)
        for camera_id in sorted(old.keys() & wanted.keys()):
            failed = self.supervisor.status(camera_thread(camera_id)).state is WorkerState.FAILED
            if old[camera_id] != wanted[camera_id] or failed:
                logger.info("camera %s: %s, restarting it", camera_id, "failed" if failed else "changed")
                self._remove_camera(camera_id)
                self._add_camera(wanted[camera_id])
        for camera_id in sorted(wanted.keys() - old.keys()):
            logger.info("camera %s: added", camera_id)
            self._add_camera(wanted[camera_id])
        if self.sync is not None and self.supervisor.status(SYNC).state is WorkerState.FAILED:
            logger.info("store %s: the sync worker failed, restarting it", self.config.store_id)
            self._start_sync(self.sync)
        updater = self.updater
        if (
            updater is not None
            and self.sync is not None
            and self.supervisor.status(UPDATER).state is WorkerState.FAILED
        ):
            logger.info("store %s: the model updater failed, restarting it", self.config.store_id)
            self.supervisor.start(UPDATER, lambda: updater.run(self._sync_stop))
        unchanged = self.config.model_copy(update={"cameras": new.cameras})
        if unchanged != new:
            logger.warning("SIGHUP: only camera changes apply while running; restart the agent for the others")
        self.config = unchanged
        self._scheduler().config = unchanged

    # --- status ----------------------------------------------------------------------------------

    def status(self) -> AgentStatus:
        """The agent as it is now (called from the health server's and the sync worker's threads, once started)."""
        scheduler = self._scheduler()
        cameras = []
        for camera_id, worker in list(self.workers.items()):
            with worker.lock:
                st = worker.stats
                connected, finished, fps, last_error = st.connected, st.finished, st.fps, st.last_error
                read, dropped, skipped, reconnects = st.frames_read, st.frames_dropped, st.frames_skipped, st.reconnects
            pipeline = scheduler.pipelines.get(camera_id)
            cameras.append(
                CameraStatus(
                    camera_id=camera_id,
                    connected=connected,
                    finished=finished,
                    fps=fps,
                    frames_read=read,
                    frames_dropped=dropped,
                    frames_skipped=skipped,
                    reconnects=reconnects,
                    last_error=last_error,
                    open_tracks=len(pipeline.open_tracks) if pipeline is not None else 0,
                    tracks=scheduler.tracks.get(camera_id, 0),
                    zone_ids=tuple(z.id for z in worker.camera.zones),
                    line_ids=tuple(ln.id for ln in worker.camera.lines),
                    worker=self.supervisor.status(camera_thread(camera_id)),
                )
            )
        sync: SyncState | None = None
        backlog = 0
        sync_worker = self.sync  # set to None by the shutdown, in another thread
        if sync_worker is not None:
            with sync_worker.status.lock:
                s = sync_worker.status
                sync = SyncState(s.acknowledged, s.rejected, s.last_success, s.last_error, self.supervisor.status(SYNC))
                backlog = s.backlog
        updater = self.supervisor.status(UPDATER) if sync is not None else None
        failed = (
            any(c.worker.state is WorkerState.FAILED for c in cameras)
            or (sync is not None and sync.worker.state is WorkerState.FAILED)
            or (updater is not None and updater.state is WorkerState.FAILED)
        )
        alive = time.monotonic() - self._loop_seen < LOOP_STALE_S
        return AgentStatus(
            health=Health.of(self.stop.is_set(), alive, failed),
            store_id=self.config.store_id,
            agent_id=self.config.agent_id,
            agent_version=AGENT_VERSION,
            cameras=tuple(cameras),
            sync=sync,
            backlog=backlog,
            store_bytes=scheduler.store_bytes,
            budget_exhausted=scheduler.budget_exhausted,
            inference_s=scheduler.inference_s,
            batches=scheduler.batches,
            batched_frames=scheduler.batched_frames,
            models=(
                ModelInfo(
                    "detector",
                    scheduler.detector.model_version,
                    scheduler.detector.runtime,
                    scheduler.detector.precision,
                ),
                ModelInfo("behavior", scheduler.classifier.model_version),
            ),
            installs=self.updater.reports() if self.updater is not None else (),
            behavior_model_fallback=self.updater.behavior_fallback if self.updater is not None else False,
            model_warnings=tuple(self.updater.warnings.values()) if self.updater is not None else (),
            updater=updater,
        )
