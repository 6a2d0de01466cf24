"""Frames from files, RTSP/HTTP URLs and USB devices through OpenCV.

Files are timed by the stream (each frame's presentation time), so results do
not depend on how fast the machine decodes; live sources are timed by the wall
clock when the frame arrives.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

logger = logging.getLogger(__name__)

T = TypeVar("T")
LIVE_TIMEOUT_MS = 5000


class SourceError(RuntimeError):
    """A video source cannot be opened or yields no frames."""


@dataclass(frozen=True)
class Frame:
    index: int
    timestamp: float  # seconds from the start of a file, or Unix time for a live source
    image: np.ndarray


def parse_source(source: str) -> str | int:
    """``usb:N`` becomes device index N; anything else is a path or URL for OpenCV."""
    if source.startswith("usb:"):
        try:
            return int(source[4:])
        except ValueError as e:
            raise SourceError(f"bad USB device {source!r}: expected usb:N with N a number") from e
    return source


def is_live(source: str) -> bool:
    return source.startswith(("rtsp://", "rtsps://", "http://", "https://", "usb:"))


class VideoSource:
    """One opened camera or file. Iterate :meth:`frames`; call :meth:`close` when done."""

    def __init__(self, source: str, fps_hint: float | None = None) -> None:
        self.source = source
        self.live = is_live(source)
        target = parse_source(source)
        if isinstance(target, str) and not self.live:
            path = Path(target)
            if not path.exists():
                raise SourceError(f"video file not found: {path}")
            if not path.is_file():
                raise SourceError(f"video path is not a file: {path}")
            if path.stat().st_size == 0:
                raise SourceError(f"video file is empty (0 bytes): {path}")
        if isinstance(target, str) and self.live:
            # a camera that stops answering must fail the read (and be reopened), not block it for long
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, LIVE_TIMEOUT_MS]
            timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, LIVE_TIMEOUT_MS]
            self._cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, timeouts)
        else:
            self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open video source {source} (corrupt, unsupported codec or unreachable)")
        reported = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if 0 < reported < 1000 else float(fps_hint or 10.0)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: int | None = count if count > 0 and not self.live else None

    def frames(self) -> Iterator[Frame]:
        index = 0
        last_ts = -1.0
        while True:
            ok, image = self._cap.read()
            if not ok or image is None:
                break
            if self.live:
                ts = time.time()
            else:
                pos = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                # some containers (GIF, raw streams) report no positions: fall back to the frame rate
                ts = pos if pos > last_ts else index / self.fps
            last_ts = ts
            yield Frame(index, ts, image)
            index += 1
        if index == 0:
            raise SourceError(f"no frame could be decoded from {self.source} (zero-length or corrupt video)")

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DONE = object()


def prefetch(items: Iterator[T], size: int = 4) -> Iterator[T]:
    """Run ``items`` in a thread, ``size`` ahead of the consumer, so decoding overlaps inference.

    The queue is bounded and the producer blocks when it is full (for files, where
    nothing may be dropped). An exception in the producer is re-raised here.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()
    error: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as e:  # re-raised in the consumer's thread
            error.append(e)
        finally:
            while not stop.is_set():
                try:
                    q.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                break
            yield item  # type: ignore[misc]
        if error:
            raise error[0]
    finally:
        stop.set()
        thread.join(timeout=5)
