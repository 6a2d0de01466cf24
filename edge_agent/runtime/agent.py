"""``retail-edge run``: every camera of a store, one shared detector, store-and-forward to central.

Threads: one reader per camera (:mod:`camera_worker`), this scheduler (detection
in batches across cameras, tracking, zones, lines, heatmaps, behaviour, storage),
the sync worker, and the health server. The scheduler is the watchdog's loop:
if it hangs, systemd restarts the service.

Everything is committed to the local SQLite store before it is pushed. On SIGTERM
open tracks are closed into summaries, the heatmap and line buckets in progress are
stored (merged with the rest of the bucket after a restart), a last sync is tried
within ``runtime.shutdown_sync_s``, and the store is closed. SIGHUP re-reads the
configuration and adds, removes or restarts cameras; other changes need a restart.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

import supervision as sv
from prometheus_client import CollectorRegistry
from retail_proto.v1 import edge_sync_pb2 as pb

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.config.loader import load_agent_config
from edge_agent.config.models import AgentConfig, CameraConfig
from edge_agent.detect.base import Detector, build_detector
from edge_agent.pipeline.camera import CameraPipeline
from edge_agent.runtime.camera_worker import CameraFrame, CameraWorker
from edge_agent.runtime.health import AgentCollector, HealthServer
from edge_agent.runtime.systemd import Notifier
from edge_agent.store.sqlite_store import EdgeStore
from edge_agent.sync.client import CentralClient
from edge_agent.sync.convert import timestamp
from edge_agent.sync.worker import SyncStatus, SyncWorker
from retail_common.config import ConfigError

logger = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
LOOP_STALE_S = 30.0  # /healthz turns 503 when the scheduler has not come round for this long
HOUSEKEEPING_S = 300.0


class Agent:
    def __init__(self, config: AgentConfig, config_path: Path | None = None, notifier: Notifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.stop = threading.Event()
        self._reload = threading.Event()
        self.workers: dict[str, CameraWorker] = {}
        self._camera_stops: dict[str, threading.Event] = {}
        self.pipelines: dict[str, CameraPipeline] = {}
        self.tracks: dict[str, int] = defaultdict(int)
        self.batches = 0
        self.batched_frames = 0
        self.inference_s = 0.0
        self.budget_exhausted = False
        self.store_bytes = 0
        self._loop_seen = time.monotonic()
        self.sync: SyncWorker | None = None
        self._sync_stop = threading.Event()
        self._sync_thread: threading.Thread | None = None
        self.health: HealthServer | None = None
        self.store: EdgeStore | None = None
        self.detector: Detector[Any, Any] | None = None
        self.classifier: BehaviorClassifier | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Opens everything; raises on a configuration that cannot work (before any thread starts)."""
        cfg = self.config
        client = CentralClient(cfg.sync) if cfg.sync is not None else None  # a bad token file fails here
        self.store = EdgeStore(cfg.store.path)
        self.detector = build_detector(cfg.detector)
        self.classifier = BehaviorClassifier(cfg.behavior.model, threads=cfg.behavior.threads)
        if client is not None and cfg.sync is not None:
            self.sync = SyncWorker(
                EdgeStore(cfg.store.path), client, cfg.sync, cfg.store_id, cfg.agent_id, heartbeat=self.heartbeat
            )
            self._sync_thread = threading.Thread(
                target=self.sync.run, args=(self._sync_stop,), name="sync", daemon=True
            )
            self._sync_thread.start()
        for camera in cfg.cameras:
            self._add_camera(camera)
        registry = CollectorRegistry()
        registry.register(AgentCollector(self.snapshot))
        health = cfg.runtime.health
        self.health = HealthServer(health.host, health.port, self.snapshot, registry)
        self.health.start()
        status = f"{len(self.workers)} camera(s), detector {self.detector.model_version}"
        logger.info(
            "store %s: agent %s running: %s, health on http://%s:%d/healthz",
            cfg.store_id,
            cfg.agent_id,
            status,
            health.host,
            self.health.port,
        )
        self.notifier.ready(status)

    def run(self) -> None:
        """Runs until SIGTERM/SIGINT (or every camera is a finished file), then shuts down cleanly."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            self.start()
            self._loop()
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("store %s: %s received, stopping", self.config.store_id, signal.Signals(signum).name)
        self.stop.set()

    def _on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload.set()

    def shutdown(self) -> None:
        self.notifier.stopping()
        self.stop.set()
        for event in self._camera_stops.values():
            event.set()
        for worker in self.workers.values():
            worker.join(10)
        if self.store is not None:
            for camera_id in list(self.pipelines):
                self._close_pipeline(camera_id)
        self._sync_stop.set()
        if self._sync_thread is not None:
            self._sync_thread.join(self.config.sync.timeout_s + 5 if self.config.sync else 5)
        if self.sync is not None and self._sync_thread is not None and self._sync_thread.is_alive():
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

    # --- cameras ---------------------------------------------------------------------------------

    def _add_camera(self, camera: CameraConfig) -> None:
        stop = threading.Event()
        self._camera_stops[camera.id] = stop
        worker = CameraWorker(camera, self.config.runtime, stop)
        self.workers[camera.id] = worker
        worker.start()

    def _remove_camera(self, camera_id: str) -> None:
        self._camera_stops.pop(camera_id).set()
        self.workers.pop(camera_id).join(10)
        if camera_id in self.pipelines:
            self._close_pipeline(camera_id)

    def _close_pipeline(self, camera_id: str) -> None:
        """Open tracks become summaries; the buckets in progress are stored (merged after a restart)."""
        pipeline = self.pipelines.pop(camera_id)
        store = self._store()
        ended = pipeline.close()
        store.add_summaries(ended)
        self.tracks[camera_id] += len(ended)
        store.merge_tiles(pipeline.heatmap.take_closed(float("inf")))
        store.merge_line_counts(pipeline.take_closed_line_counts(float("inf")))

    def reload(self) -> None:
        """Applies a changed camera list from the configuration file (SIGHUP)."""
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
            if old[camera_id] != wanted[camera_id]:
                logger.info("camera %s: changed, restarting it", camera_id)
                self._remove_camera(camera_id)
                self._add_camera(wanted[camera_id])
        for camera_id in sorted(wanted.keys() - old.keys()):
            logger.info("camera %s: added", camera_id)
            self._add_camera(wanted[camera_id])
        unchanged = self.config.model_copy(update={"cameras": new.cameras})
        if unchanged != new:
            logger.warning("SIGHUP: only camera changes apply while running; restart the agent for the others")
        self.config = unchanged

    # --- the scheduler ---------------------------------------------------------------------------

    def _store(self) -> EdgeStore:
        if self.store is None:
            raise RuntimeError("the agent is not started")
        return self.store

    def _loop(self) -> None:
        runtime = self.config.runtime
        next_flush = time.time() + runtime.flush_interval_s
        next_housekeeping = 0.0
        while not self.stop.is_set():
            self._loop_seen = time.monotonic()
            self.notifier.watchdog()
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            frames = self._gather(0.1)
            if frames:
                self._detect(frames)
            now = time.time()
            if now >= next_flush:
                next_flush = now + runtime.flush_interval_s
                self._flush(now)
            if now >= next_housekeeping:
                next_housekeeping = now + HOUSEKEEPING_S
                self._housekeeping(now)
            if not frames and self.workers and all(self._finished(w) for w in self.workers.values()):
                logger.info("store %s: every camera is a file that has ended", self.config.store_id)
                break

    @staticmethod
    def _finished(worker: CameraWorker) -> bool:
        with worker.lock:
            return worker.stats.finished and worker.queue.empty()

    def _gather(self, timeout: float) -> list[CameraFrame]:
        """Up to ``max_batch`` frames, at most one per camera per round, waiting up to ``timeout`` for the first."""
        limit = self.config.runtime.max_batch
        deadline = time.monotonic() + timeout
        frames: list[CameraFrame] = []
        while not frames and not self.stop.is_set():
            frames = self._round(limit)
            if frames or time.monotonic() >= deadline:
                break
            self.stop.wait(0.003)
        while frames and len(frames) < limit:
            more = self._round(limit - len(frames))
            if not more:
                break
            frames.extend(more)
        now = time.time()
        for frame in frames:
            self.workers[frame.camera_id].taken(now)
        return frames

    def _round(self, limit: int) -> list[CameraFrame]:
        out: list[CameraFrame] = []
        for worker in list(self.workers.values()):
            if len(out) >= limit:
                break
            try:
                out.append(worker.queue.get_nowait())
            except Exception:
                continue
        return out

    def _detect(self, frames: list[CameraFrame]) -> None:
        detector = self.detector
        if detector is None:
            raise RuntimeError("the agent is not started")
        by_shape: dict[tuple[int, ...], list[CameraFrame]] = defaultdict(list)
        for frame in frames:
            by_shape[frame.image.shape].append(frame)
        for group in by_shape.values():
            for i in range(0, len(group), detector.max_batch):
                chunk = group[i : i + detector.max_batch]
                batch = detector.preprocess([f.image for f in chunk])
                t0 = time.perf_counter()
                raw = detector.infer(batch)
                self.inference_s += time.perf_counter() - t0
                self.batches += 1
                self.batched_frames += len(chunk)
                for frame, detections in zip(chunk, detector.postprocess(raw, batch), strict=True):
                    self._track(frame, detections)

    def _track(self, frame: CameraFrame, detections: sv.Detections) -> None:
        worker = self.workers.get(frame.camera_id)
        if worker is None:  # removed by a reload while its frame waited
            return
        pipeline = self.pipelines.get(frame.camera_id)
        if pipeline is None:
            height, width = frame.image.shape[:2]
            pipeline = CameraPipeline(
                self.config,
                worker.camera,
                width,
                height,
                worker.stats.source_fps or 10.0,
                self.detector.model_version if self.detector else "",
                classifier=self.classifier,
                keep_zone_events=False,
            )
            self.pipelines[frame.camera_id] = pipeline
        tracked = pipeline.process(frame.timestamp, detections)
        if len(tracked):
            worker.saw_person()
        ended = pipeline.take_summaries()
        if ended:
            self._store().add_summaries(ended)
            self.tracks[frame.camera_id] += len(ended)

    def _flush(self, now: float) -> None:
        store = self._store()
        for pipeline in self.pipelines.values():
            store.merge_tiles(pipeline.heatmap.take_closed(now))
            store.merge_line_counts(pipeline.take_closed_line_counts(now))

    def _housekeeping(self, now: float) -> None:
        runtime = self.config.runtime
        result = self._store().purge(
            now - runtime.retention_days * 86_400,
            int(runtime.disk_budget_mb * 1024 * 1024),
            unsynced_too=self.config.sync is None,
        )
        self.store_bytes = result.used_bytes
        if result.exhausted and not self.budget_exhausted:
            logger.error(
                "store %s: disk budget of %.0f MB exhausted by data not yet synced (%.0f MB); nothing unsynced "
                "is deleted: check the connection to central",
                self.config.store_id,
                runtime.disk_budget_mb,
                result.used_bytes / 1e6,
            )
        self.budget_exhausted = result.exhausted
        if result.deleted:
            logger.info("store %s: purged %d synced item(s)", self.config.store_id, result.deleted)

    # --- status ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        cameras: dict[str, dict[str, Any]] = {}
        for camera_id, worker in list(self.workers.items()):
            with worker.lock:
                st = worker.stats
                cameras[camera_id] = {
                    "connected": st.connected,
                    "finished": st.finished,
                    "fps": round(st.fps, 2),
                    "frames_read": st.frames_read,
                    "frames_dropped": st.frames_dropped,
                    "frames_skipped": st.frames_skipped,
                    "reconnects": st.reconnects,
                    "last_error": st.last_error,
                }
            pipeline = self.pipelines.get(camera_id)
            cameras[camera_id]["open_tracks"] = len(pipeline.open_tracks) if pipeline else 0
            cameras[camera_id]["tracks"] = self.tracks[camera_id]
        sync: dict[str, Any] = {"enabled": self.sync is not None}
        backlog = 0
        if self.sync is not None:
            with self.sync.status.lock:
                st2 = self.sync.status
                sync |= {
                    "acknowledged": st2.acknowledged,
                    "rejected": st2.rejected,
                    "last_success": st2.last_success,
                    "last_error": st2.last_error,
                }
                backlog = st2.backlog
        alive = time.monotonic() - self._loop_seen < LOOP_STALE_S
        return {
            "status": "ok" if alive and not self.stop.is_set() else "stopping" if self.stop.is_set() else "stalled",
            "store_id": self.config.store_id,
            "agent_id": self.config.agent_id,
            "cameras": cameras,
            "sync": sync,
            "backlog": backlog,
            "store_bytes": self.store_bytes,
            "budget_exhausted": self.budget_exhausted,
            "inference_s": round(self.inference_s, 3),
            "batches": self.batches,
            "batched_frames": self.batched_frames,
            "inference_ms_mean": round(1000 * self.inference_s / self.batches, 2) if self.batches else None,
            "mean_batch": round(self.batched_frames / self.batches, 2) if self.batches else None,
            "models": {
                "detector": self.detector.model_version if self.detector else "",
                "behavior": self.classifier.model_version if self.classifier else "",
            },
        }

    def heartbeat(self, status: SyncStatus) -> pb.AgentHeartbeat:
        snap = self.snapshot()
        cameras = {c.id: c for c in self.config.cameras}
        return pb.AgentHeartbeat(
            agent_id=self.config.agent_id,
            store_id=self.config.store_id,
            sent_at=timestamp(time.time()),
            agent_version=AGENT_VERSION,
            models=[pb.ModelVersion(name=kind, version=version) for kind, version in snap["models"].items()],
            cameras=[
                pb.CameraStatus(
                    camera_id=camera_id,
                    fps=cam["fps"],
                    frames_dropped=cam["frames_dropped"],
                    connected=cam["connected"],
                    last_error=cam["last_error"],
                    zone_ids=[z.id for z in cameras[camera_id].zones] if camera_id in cameras else [],
                    line_ids=[ln.id for ln in cameras[camera_id].lines] if camera_id in cameras else [],
                )
                for camera_id, cam in snap["cameras"].items()
            ],
            outbox_backlog=status.backlog,
            last_error=status.last_error,
        )
