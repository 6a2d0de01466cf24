"""One camera's reader: frames into a small queue that drops the oldest, reconnecting forever.

Each camera is read in its own thread (supervised, see :mod:`supervisor`), so a
camera that hangs or fails does not hold up the others. A camera that cannot be
opened or stops answering (:class:`SourceError`) is reopened after a capped,
jittered backoff, forever; any other exception ends the thread, and the
supervisor restarts it within its limits. While nobody has been in view for
``idle_after_s`` the camera is sampled at ``idle_fps`` instead of its full
rate; the scheduler marks it active again as soon as a person is detected.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_agent.analytics.uptime import UptimeMeter
from edge_agent.config.models import CameraConfig, RuntimeConfig
from edge_agent.ingest.video_source import SourceError, VideoSource, is_live
from edge_agent.runtime.supervisor import describe
from retail_common.backoff import Backoff
from retail_common.summary import CameraUptime

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


SourceOpener = Callable[[str, float | None], VideoSource]


class CameraWorker:
    """A camera's queue, statistics and reading loop (:meth:`run`, the body of its supervised thread).

    ``open_source`` opens the camera (:class:`VideoSource`, or a stand-in in tests); ``clock`` (monotonic
    seconds) says how long nobody has been in view.
    """

    def __init__(
        self,
        camera: CameraConfig,
        runtime: RuntimeConfig,
        stop: threading.Event,
        open_source: SourceOpener = VideoSource,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.runtime = runtime
        self.stop = stop  # the agent's stop, or this worker's own when the camera is removed
        self.open_source = open_source
        self.clock = clock
        self.queue: queue.Queue[CameraFrame] = queue.Queue(maxsize=runtime.queue_size)
        self.stats = CameraStats()
        self.uptime = UptimeMeter(camera.id, runtime.uptime_bucket_s, time.time())  # guarded by ``lock``
        self.lock = threading.Lock()
        self._last_person = clock()
        self._last_sample: float | None = None

    def saw_person(self) -> None:
        """Called by the scheduler when a person was detected: full frame rate again."""
        self._last_person = self.clock()

    def sampling_fps(self, source_fps: float) -> float:
        idle = self.clock() - self._last_person > self.runtime.idle_after_s
        active = self.runtime.active_fps or source_fps
        return min(self.runtime.idle_fps, active) if idle else active

    def sample(self, ts: float, source_fps: float) -> bool:
        """Whether the frame at ``ts`` goes to the detector, at the rate that applies now: a person seen since
        the last sample brings full rate at once, not after the idle interval."""
        last = self._last_sample
        if last is not None and last <= ts < last + 1.0 / self.sampling_fps(source_fps):
            return False
        self._last_sample = ts
        return True

    def run(self) -> None:
        """Reads until stopped (or a file ends); an unexpected exception is recorded, then ends the thread."""
        try:
            self._run()
        except Exception as e:
            with self.lock:
                self._set_connected(False)
                self.stats.last_error = describe(e)
            raise

    def _set_connected(self, connected: bool) -> None:
        """The camera's state and its uptime meter together (the caller holds ``lock``)."""
        self.stats.connected = connected
        self.uptime.set_connected(connected, time.time())

    def take_uptime(self, now: float, closing: bool = False) -> list[CameraUptime]:
        """The camera's connected seconds per bucket that ended by ``now`` (``closing``: the current one too)."""
        with self.lock:
            return self.uptime.take_all(now) if closing else self.uptime.take_closed(now)

    def _run(self) -> None:
        backoff = Backoff(self.runtime.reconnect_initial_s, self.runtime.reconnect_max_s)
        while not self.stop.is_set():
            try:
                source = self.open_source(self.camera.source, self.camera.fps)
            except SourceError as e:
                self._failed(str(e), backoff)
                continue
            with self.lock:
                self._set_connected(True)
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
            except SourceError as e:  # anything else ends the thread: the supervisor restarts it, within limits
                self._failed(str(e), backoff)
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
                    self._set_connected(False)
                logger.info("camera %s: end of file %s", self.camera.id, self.camera.source)
                return
            if is_live(self.camera.source):
                self._failed("stream ended", backoff)

    def _read(self, source: VideoSource) -> int:
        """Frames until the source ends or the agent stops; returns how many were read."""
        started_wall = time.time()
        first_ts: float | None = None
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
            if not self.sample(ts, source.fps):
                with self.lock:
                    self.stats.frames_skipped += 1
                continue
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
            self._set_connected(False)
            self.stats.last_error = error
            self.stats.reconnects += 1
        logger.warning("camera %s: %s; reconnecting in %.1f s", self.camera.id, error, delay)
        self.stop.wait(delay)
