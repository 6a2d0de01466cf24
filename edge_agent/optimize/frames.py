"""Frames sampled from a store's cameras or a video file, for calibrating and checking an optimized detector.

Frames stay in memory only (nothing is written: the agent never stores frames) and are shrunk on arrival to fit
the network input, so a few hundred of them cost about as much memory as the network's own tensors
(300 frames of 640x360 are 200 MB, whatever the camera's resolution).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.ingest.video_source import SourceError, VideoSource

logger = logging.getLogger(__name__)

MAX_FRAMES = 5000


@dataclass(frozen=True)
class FrameSample:
    """Frames for calibration and the held-out frames the agreement check runs on, never the same ones."""

    calibration: tuple[np.ndarray, ...]
    held_out: tuple[np.ndarray, ...]


def fit_within(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image shrunk (never enlarged) to fit ``width`` x ``height``, keeping its aspect ratio."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _spread(frames: Iterator[np.ndarray], total: int | None, count: int) -> Iterator[np.ndarray]:
    """``count`` frames spread evenly over a file of ``total`` frames (all of them when it has fewer)."""
    if total is None or total <= count:
        yield from frames
        return
    wanted = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
    for i, image in enumerate(frames):
        if i in wanted:
            yield image


def _every(frames: Iterator[np.ndarray], every_s: float, clock: Callable[[], float]) -> Iterator[np.ndarray]:
    """One frame per ``every_s`` seconds of a live camera (the frames between are read and dropped)."""
    next_at = clock()
    for image in frames:
        now = clock()
        if now >= next_at:
            next_at = now + every_s
            yield image


def sample_source(
    source: str,
    count: int,
    size: tuple[int, int],
    every_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[np.ndarray]:
    """Up to ``count`` frames of one camera or video file, each shrunk to fit ``size`` (width, height).

    A file gives frames spread over its whole length; a live camera one frame every ``every_s`` seconds.
    """
    if not 1 <= count <= MAX_FRAMES:
        raise ValueError(f"frame count must lie in [1, {MAX_FRAMES}], got {count}")
    out: list[np.ndarray] = []
    with VideoSource(source) as video:
        images = (f.image for f in video.frames())
        chosen = _every(images, every_s, clock) if video.live else _spread(images, video.frame_count, count)
        for image in chosen:
            out.append(fit_within(image, *size))
            if len(out) == count:
                break
    logger.info("%s: %d frame(s) sampled", source, len(out))
    return out


def sample(
    sources: Sequence[str], count: int, held_out: float, size: tuple[int, int], every_s: float = 1.0
) -> FrameSample:
    """``count`` frames shared among ``sources``, one in ``1 / held_out`` of them kept back for the check.

    Held-out frames are interleaved with the calibration frames (every k-th sample), so both cover the same
    cameras and the same moments.
    """
    if not sources:
        raise SourceError("no camera or video to sample frames from")
    if not 0.05 <= held_out <= 0.5:
        raise ValueError(f"held-out fraction must lie in [0.05, 0.5], got {held_out}")
    per_source = max(1, count // len(sources))
    frames = [f for src in sources for f in sample_source(src, per_source, size, every_s)]
    step = round(1 / held_out)
    kept_back = tuple(f for i, f in enumerate(frames) if i % step == step - 1)
    calibration = tuple(f for i, f in enumerate(frames) if i % step != step - 1)
    if not kept_back or not calibration:
        raise SourceError(f"only {len(frames)} frame(s) could be read: too few to calibrate and check")
    return FrameSample(calibration, kept_back)
