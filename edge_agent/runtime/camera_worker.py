"""One camera's reader thread: frames into a small queue that drops the oldest, reconnecting forever.

Each camera has its own thread, so a camera that hangs or fails does not hold
up the others. A failed camera is reopened after a capped, jittered backoff.
While nobody has been in view for ``idle_after_s`` the camera is sampled at
``idle_fps`` instead of its full rate; the scheduler marks it active again as
soon as a person is detected.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from edge_agent.config.models import CameraConfig, RuntimeConfig
from edge_agent.ingest.video_source import SourceError, VideoSource, is_live
from retail_common.backoff import Backoff

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraFrame:
    camera_id: str
    timestamp: float  # Unix seconds
    image: np.ndarray


@dataclass
class CameraStats:
    frames_read: int = 0
    frames_queued: int = 0
    frames_dropped: int = 0  # queued frames the detector never got to
    frames_skipped: int = 0  # not sampled (adaptive frame rate)
    reconnects: int = 0
    connected: bool = False
    finished: bool = False  # a file that ended without looping
    last_error: str = ""
    fps: float = 0.0  # frames handed to the detector per second, smoothed
    width: int = 0
    height: int = 0
    source_fps: float = 0.0
    last_taken: float | None = None


class CameraWorker:
    def __init__(self, camera: CameraConfig, runtime: RuntimeConfig, stop: threading.Event) -> None:
        self.camera = camera
        self.runtime = runtime
        self.stop = stop  # the agent's stop, or this worker's own when the camera is removed
        self.queue: queue.Queue[CameraFrame] = queue.Queue(maxsize=runtime.queue_size)
        self.stats = CameraStats()
        self.lock = threading.Lock()
        self._last_person = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def saw_person(self) -> None:
        """Called by the scheduler when a person was detected: full frame rate again."""
        self._last_person = time.monotonic()

    def sampling_fps(self, source_fps: float) -> float:
        idle = time.monotonic() - self._last_person > self.runtime.idle_after_s
        active = self.runtime.active_fps or source_fps
        return min(self.runtime.idle_fps, active) if idle else active

    def _run(self) -> None:
        backoff = Backoff(self.runtime.reconnect_initial_s, self.runtime.reconnect_max_s)
        while not self.stop.is_set():
            try:
                source = VideoSource(self.camera.source, self.camera.fps)
            except SourceError as e:
                self._failed(str(e), backoff)
                continue
            with self.lock:
                self.stats.connected = True
                self.stats.width, self.stats.height, self.stats.source_fps = source.width, source.height, source.fps
            logger.info(
                "camera %s: reading %s (%dx%d, %.1f fps)",
                self.camera.id,
                self.camera.source,
                source.width,
                source.height,
                source.fps,
            )
            try:
                read = self._read(source)
            except Exception as e:  # SourceError, or anything OpenCV raises mid-stream: reconnect, never die
                if not isinstance(e, SourceError):
                    logger.exception("camera %s: reading failed", self.camera.id)
                self._failed(str(e) or type(e).__name__, backoff)
                continue
            finally:
                source.close()
            if read:
                backoff.reset()
            elif not self.stop.is_set():
                self._failed("no frame could be read", backoff)  # a looping empty file must not spin
                continue
            if not is_live(self.camera.source) and not self.camera.loop:
                with self.lock:
                    self.stats.finished = True
                    self.stats.connected = False
                logger.info("camera %s: end of file %s", self.camera.id, self.camera.source)
                return
            if is_live(self.camera.source):
                self._failed("stream ended", backoff)

    def _read(self, source: VideoSource) -> int:
        """Frames until the source ends or the agent stops; returns how many were read."""
        started_wall = time.time()
        first_ts: float | None = None
        next_sample = 0.0
        read = 0
        for frame in source.frames():
            if self.stop.is_set():
                break
            read += 1
            live = source.live
            if live:
                ts = time.time()
            else:
                first_ts = frame.timestamp if first_ts is None else first_ts
                ts = started_wall + frame.timestamp - first_ts
                delay = ts - time.time()
                if self.camera.realtime and delay > 0 and self.stop.wait(delay):
                    break  # a file standing in for a camera is read at its own pace
            with self.lock:
                self.stats.frames_read += 1
            if ts < next_sample:
                with self.lock:
                    self.stats.frames_skipped += 1
                continue
            next_sample = ts + 1.0 / self.sampling_fps(source.fps)
            self._offer(CameraFrame(self.camera.id, ts, frame.image))
        return read

    def _offer(self, frame: CameraFrame) -> None:
        if not self.camera.realtime and not is_live(self.camera.source):
            # a file read as fast as possible waits for the detector: nothing is decoded to be dropped
            while not self.stop.is_set():
                try:
                    self.queue.put(frame, timeout=0.1)
                except queue.Full:
                    continue
                with self.lock:
                    self.stats.frames_queued += 1
                return
            return
        with self.lock:
            if self.queue.full():
                try:
                    self.queue.get_nowait()
                    self.stats.frames_dropped += 1
                except queue.Empty:
                    pass
            self.queue.put_nowait(frame)
            self.stats.frames_queued += 1

    def taken(self, now: float) -> None:
        """The scheduler took a frame: update the smoothed rate."""
        with self.lock:
            last = self.stats.last_taken
            if last is not None and now > last:
                rate = 1.0 / (now - last)
                self.stats.fps = rate if self.stats.fps == 0 else 0.9 * self.stats.fps + 0.1 * rate
            self.stats.last_taken = now

    def _failed(self, error: str, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        with self.lock:
            self.stats.connected = False
            self.stats.last_error = error
            self.stats.reconnects += 1
        logger.warning("camera %s: %s; reconnecting in %.1f s", self.camera.id, error, delay)
        self.stop.wait(delay)
