"""The scheduler: frames of every camera gathered into batches for the one detector, then tracking, zones,
lines, heatmaps and behaviour per camera, and everything stored in the local SQLite store.

Each :meth:`Scheduler.step` gathers up to ``max_batch`` frames (at most one per camera per round, so a busy
camera cannot starve the others), detects them grouped by image shape, feeds each camera's pipeline, stores
the summaries of tracks that ended, and, when due, the heatmap and line buckets that closed and the store's
housekeeping (retention and disk budget). Each camera's connected seconds per bucket are stored with them, so
that central tells an hour the camera was down from an hour nobody came.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Any

import supervision as sv

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.config.models import AgentConfig
from edge_agent.detect.base import Detector
from edge_agent.pipeline.camera import CameraPipeline
from edge_agent.runtime.camera_worker import CameraFrame, CameraWorker
from edge_agent.runtime.models_in_use import ModelsInUse
from edge_agent.store.sqlite_store import EdgeStore

logger = logging.getLogger(__name__)

HOUSEKEEPING_S = 300.0


class Scheduler:
    """Owns the pipelines and the detector's counters; reads the cameras' queues (``workers``, shared with the
    agent, which adds and removes cameras)."""

    def __init__(
        self,
        config: AgentConfig,
        store: EdgeStore,
        detector: Detector[Any, Any],
        classifier: BehaviorClassifier,
        workers: dict[str, CameraWorker],
        stop: threading.Event,
        models: ModelsInUse | None = None,
    ) -> None:
        """``models`` (swaps from the updater, probation) wraps ``detector`` and ``classifier`` when given."""
        self.config = config  # replaced by the agent on a reload
        self.store = store
        self.models = models or ModelsInUse(detector, classifier)
        self.workers = workers
        self.stop = stop
        self.pipelines: dict[str, CameraPipeline] = {}
        self.tracks: dict[str, int] = defaultdict(int)
        self.batches = 0
        self.batched_frames = 0
        self.inference_s = 0.0
        self.budget_exhausted = False
        self.store_bytes = 0
        self._next_flush = time.time() + config.runtime.flush_interval_s
        self._next_housekeeping = 0.0

    def step(self, timeout: float) -> bool:
        """One round: detect what the cameras have (waiting up to ``timeout``), flush and purge when due.
        Returns whether any frame was processed."""
        self.models.apply_swaps(self.pipelines)  # between two batches: no frame waits for a model
        frames = self.gather(timeout)
        if frames:
            self.detect(frames)
        self.models.review(self.pipelines)
        now = time.time()
        if now >= self._next_flush:
            self._next_flush = now + self.config.runtime.flush_interval_s
            self.flush(now)
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + HOUSEKEEPING_S
            self.housekeeping(now)
        return bool(frames)

    def all_finished(self) -> bool:
        """Every camera is a file that ended and its queue is empty."""
        return bool(self.workers) and all(self._finished(w) for w in list(self.workers.values()))

    @staticmethod
    def _finished(worker: CameraWorker) -> bool:
        with worker.lock:
            return worker.stats.finished and worker.queue.empty()

    def gather(self, timeout: float) -> list[CameraFrame]:
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
            worker = self.workers.get(frame.camera_id)
            if worker is not None:
                worker.taken(now)
        return frames

    def _round(self, limit: int) -> list[CameraFrame]:
        out: list[CameraFrame] = []
        for worker in list(self.workers.values()):
            if len(out) >= limit:
                break
            try:
                out.append(worker.queue.get_nowait())
            except queue.Empty:
                continue
        return out

    @property
    def detector(self) -> Detector[Any, Any]:
        return self.models.detector

    @property
    def classifier(self) -> BehaviorClassifier:
        return self.models.classifier

    def detect(self, frames: list[CameraFrame]) -> None:
        by_shape: dict[tuple[int, ...], list[CameraFrame]] = defaultdict(list)
        for frame in frames:
            by_shape[frame.image.shape].append(frame)
        for group in by_shape.values():
            i = 0
            while i < len(group):
                chunk = group[i : i + self.detector.max_batch]  # a rollback may change the batch size
                i += len(chunk)
                found, seconds = self.models.detect([f.image for f in chunk], self.pipelines)
                self.inference_s += seconds
                self.batches += 1
                self.batched_frames += len(chunk)
                for frame, detections in zip(chunk, found, strict=True):
                    self.models.saw(bool(len(detections)))
                    self.track(frame, detections)

    def track(self, frame: CameraFrame, detections: sv.Detections) -> None:
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
                self.detector.model_version,
                classifier=self.classifier,
                keep_zone_events=False,
            )
            self.pipelines[frame.camera_id] = pipeline
        tracked = pipeline.process(frame.timestamp, detections)
        if len(tracked):
            worker.saw_person()
        ended = self.models.summaries(pipeline, self.pipelines)
        if ended:
            self.store.add_summaries(ended)
            self.tracks[frame.camera_id] += len(ended)

    def flush(self, now: float) -> None:
        for pipeline in self.pipelines.values():
            self.store.merge_tiles(pipeline.heatmap.take_closed(now))
            self.store.merge_line_counts(pipeline.take_closed_line_counts(now))
        for worker in list(self.workers.values()):
            self.store.merge_uptimes(worker.take_uptime(now))

    def close_uptime(self, worker: CameraWorker) -> None:
        """A camera is closing: its uptime so far is stored, the bucket in progress included."""
        self.store.merge_uptimes(worker.take_uptime(time.time(), closing=True))

    def close_pipeline(self, camera_id: str) -> None:
        """Open tracks become summaries; the buckets in progress are stored (merged after a restart)."""
        pipeline = self.pipelines.pop(camera_id, None)
        if pipeline is None:
            return
        ended = pipeline.close()
        self.store.add_summaries(ended)
        self.tracks[camera_id] += len(ended)
        self.store.merge_tiles(pipeline.heatmap.take_closed(float("inf")))
        self.store.merge_line_counts(pipeline.take_closed_line_counts(float("inf")))

    def close(self) -> None:
        for camera_id in list(self.pipelines):
            self.close_pipeline(camera_id)
        for worker in list(self.workers.values()):
            self.close_uptime(worker)

    def housekeeping(self, now: float) -> None:
        runtime = self.config.runtime
        result = self.store.purge(
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
