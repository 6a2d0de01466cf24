"""Pictures made on the edge box for a person to look at: heatmap over an empty scene, annotated video.

The heatmap's background plate is the per-pixel temporal median of frames
sampled across the video: anyone who moves is outvoted by the empty floor, so
no person appears in it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from edge_agent.config.models import CameraConfig


class BackgroundPlate:
    """An image of the empty scene: the per-pixel median of sampled frames with people masked out.

    Keeps at most ``max_samples`` frames, evenly spread over time. Pixels inside
    (slightly enlarged) person boxes do not vote, so someone standing in one place
    for most of the video does not become part of the plate; a pixel that was
    covered in every sample is filled from its surroundings.
    """

    def __init__(self, max_samples: int = 48, every_s: float = 1.0, margin: float = 0.15) -> None:
        self.max_samples = max_samples
        self.every_s = every_s
        self.margin = margin
        self._samples: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._next_t = 0.0

    def offer(self, t: float, image: np.ndarray, boxes: np.ndarray) -> None:
        """A frame at stream time ``t`` with the (N, 4) xyxy boxes of the people in it."""
        if t < self._next_t:
            return
        self._next_t = t + self.every_s
        h, w = image.shape[:2]
        scale = min(1.0, 960 / w)
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)))
        mask = np.zeros(small.shape[:2], dtype=bool)
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale:
            mx, my = (x2 - x1) * self.margin, (y2 - y1) * self.margin
            mask[max(0, int(y1 - my)) : int(y2 + my) + 1, max(0, int(x1 - mx)) : int(x2 + mx) + 1] = True
        self._samples.append(small.copy())
        self._masks.append(mask)
        if len(self._samples) >= 2 * self.max_samples:
            # keep every other sample and halve the rate: still evenly spread, memory bounded
            self._samples, self._masks = self._samples[::2], self._masks[::2]
            self.every_s *= 2

    def median(self) -> np.ndarray | None:
        if not self._samples:
            return None
        frames, masks = np.stack(self._samples), np.stack(self._masks)
        plate: np.ndarray = np.empty(frames.shape[1:], dtype=np.uint8)
        for r in range(0, frames.shape[1], 64):  # in bands of rows, to bound the float copy's memory
            band = frames[:, r : r + 64].astype(np.float32)
            band[masks[:, r : r + 64]] = np.nan
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: filled below
                med = np.nanmedian(band, axis=0)
            plate[r : r + 64] = np.nan_to_num(med, nan=0).astype(np.uint8)
        never_seen = np.asarray(masks.all(axis=0), dtype=np.uint8)
        if never_seen.any():
            plate = np.asarray(cv2.inpaint(plate, never_seen, 5, cv2.INPAINT_TELEA))
        return plate


def render_heatmap(grid: np.ndarray, background: np.ndarray | None, size: tuple[int, int], path: Path) -> None:
    """Person-seconds grid as a colour overlay on the background plate, written as PNG."""
    w, h = size
    base = cv2.resize(background, (w, h)) if background is not None else np.full((h, w, 3), 40, np.uint8)
    peak = float(grid.max())
    if peak > 0:
        heat = cv2.resize((grid / peak).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        heat = cv2.GaussianBlur(np.clip(heat, 0, 1), (0, 0), sigmaX=max(w / grid.shape[1] / 2, 1))
        colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (np.clip(heat * 1.5, 0, 1) * 0.6)[..., None]
        base = (base * (1 - alpha) + colour * alpha).astype(np.uint8)
    label = f"peak {peak:.1f} person-s per cell" if peak > 0 else "no one seen"
    cv2.putText(base, label, (8, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), base):
        raise OSError(f"cannot write heatmap image {path}")


class Annotator:
    """Boxes, track ids, zones and lines drawn on each frame, for a person checking the pipeline."""

    def __init__(self, path: Path, camera: CameraConfig, fps: float, size: tuple[int, int]) -> None:
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OSError(f"cannot open video writer for {path}")
        self.camera = camera
        self.boxes = sv.BoxAnnotator(thickness=2)
        self.labels = sv.LabelAnnotator(text_scale=0.5, text_padding=3)

    def write(self, image: np.ndarray, tracked: sv.Detections) -> None:
        frame = image.copy()
        for zone in self.camera.zones:
            frame = sv.draw_polygon(frame, np.asarray(zone.polygon, dtype=np.int32), sv.Color.YELLOW, thickness=2)
            x, y = np.asarray(zone.polygon).min(axis=0)
            cv2.putText(frame, zone.id, (int(x), int(y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1)
        for line in self.camera.lines:
            start, end = sv.Point(*line.start), sv.Point(*line.end)
            frame = sv.draw_line(frame, start, end, sv.Color.GREEN, thickness=2)
        if len(tracked):
            frame = self.boxes.annotate(frame, tracked)
            ids: list[int] = [] if tracked.tracker_id is None else [int(i) for i in tracked.tracker_id]
            frame = self.labels.annotate(frame, tracked, labels=[f"#{i}" for i in ids])
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()
