"""OpenCV's built-in HOG people detector: runs with no model download at all.

Its window is 64x128 pixels, so people who fill most of the frame are only found
after shrinking it (``scale``); the frame's bottom edge is padded so that people
whose feet are cut off by the frame still fill a window. The SVM margin is
measured from ``hit_threshold`` and squashed to a confidence in [0, 1) with
``1 - exp(-(margin - hit_threshold))``, so that ByteTrack's thresholds apply
as they do to a YOLO score (0.7 above the threshold is 0.5).

The detector's 64x128 window holds a person about 96 pixels tall with a margin
of 16 above and below (the Dalal-Triggs training crops), so its raw boxes reach
well below the feet. Boxes are shrunk by those margins before anything else
sees them: the bottom-centre of a box must be the person's feet, because zones,
lines and floor positions all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from edge_agent.config.models import HogDetectorConfig
from edge_agent.detect.base import Detector, DetectorError
from retail_common.models import ModelRef

# Fraction of a HOG window's height above the head and below the feet, and of its width on each side.
WINDOW_MARGIN_Y = 16 / 128
WINDOW_MARGIN_X = 12 / 64
WINDOW_W, WINDOW_H = 64, 128


@dataclass(frozen=True)
class HogBatch:
    images: tuple[np.ndarray, ...]
    sizes: tuple[tuple[int, int], ...]  # original (w, h) of each frame


class HogDetector(Detector[HogBatch, list[tuple[np.ndarray, np.ndarray]]]):
    model_version = str(ModelRef("opencv-hog", cv2.__version__))
    runtime = "opencv"
    precision = "fp32"

    def __init__(self, config: HogDetectorConfig) -> None:
        if not hasattr(cv2, "HOGDescriptor"):
            raise DetectorError(
                f"OpenCV {cv2.__version__} has no HOGDescriptor (removed in OpenCV 5): install opencv-python<5"
            )
        self.config = config
        self.max_batch = 8
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))
        self.infer(self.preprocess([np.zeros((480, 640, 3), dtype=np.uint8)]))

    def preprocess(self, frames: Sequence[np.ndarray]) -> HogBatch:
        s, pad = self.config.scale, self.config.pad_bottom
        images = []
        for frame in frames:
            img = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s != 1.0 else frame
            bottom = round(img.shape[0] * pad)
            # OpenCV's HOG crashes on images smaller than its window: pad those up to it
            bottom = max(bottom, WINDOW_H - img.shape[0])
            right = max(0, WINDOW_W - img.shape[1])
            if bottom or right:
                img = cv2.copyMakeBorder(img, 0, bottom, 0, right, cv2.BORDER_REPLICATE)
            images.append(img)
        return HogBatch(tuple(images), tuple((f.shape[1], f.shape[0]) for f in frames))

    def infer(self, batch: HogBatch) -> list[tuple[np.ndarray, np.ndarray]]:
        c = self.config
        out = []
        for img in batch.images:
            rects, weights = self.hog.detectMultiScale(
                img,
                hitThreshold=c.hit_threshold,
                winStride=(c.win_stride, c.win_stride),
                padding=(8, 8),
                scale=c.pyramid_scale,
            )
            out.append((np.asarray(rects, dtype=np.float32).reshape(-1, 4), np.asarray(weights).reshape(-1)))
        return out

    def postprocess(self, raw: list[tuple[np.ndarray, np.ndarray]], batch: HogBatch) -> list[sv.Detections]:
        c = self.config
        result = []
        for (rects, margins), (fw, fh) in zip(raw, batch.sizes, strict=True):
            conf = (1.0 - np.exp(-np.maximum(margins - c.hit_threshold, 0.0))).astype(np.float32)
            keep = conf >= c.min_confidence
            if not keep.any():
                result.append(sv.Detections.empty())
                continue
            x, y, w, h = (rects[keep] / c.scale).T
            mx, my = w * WINDOW_MARGIN_X, h * WINDOW_MARGIN_Y
            xyxy = np.stack([x + mx, y + my, x + w - mx, y + h - my], axis=1)
            np.clip(xyxy, 0, [fw, fh, fw, fh], out=xyxy)
            det = sv.Detections(xyxy=xyxy, confidence=conf[keep], class_id=np.zeros(int(keep.sum()), dtype=int))
            # HOG fires at several pyramid levels on one person, often a box inside a box:
            # suppress by intersection over the smaller box, not IoU
            result.append(
                det.with_nms(threshold=c.nms_overlap, class_agnostic=True, overlap_metric=sv.OverlapMetric.IOS)
            )
        return result
