"""Pre- and post-processing shared by every Ultralytics YOLO backend (ONNX Runtime, OpenVINO, TensorRT).

Ultralytics exports of YOLOv8 and YOLO11 take letterboxed RGB images scaled to
[0, 1] in NCHW layout and return ``(batch, 4 + classes, anchors)``: box centre,
width and height in network pixels, then one score per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

STRIDE = 32
PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the network input: ``net = frame * scale + pad``."""

    scale: float
    pad_x: float
    pad_y: float
    frame_w: int
    frame_h: int


@dataclass(frozen=True)
class YoloBatch:
    tensor: np.ndarray  # (N, 3, H, W) float32 in [0, 1]
    boxes: tuple[Letterbox, ...]


def rect_input_size(frame_w: int, frame_h: int, imgsz: int, stride: int = STRIDE) -> tuple[int, int]:
    """Smallest stride-multiple (w, h) that holds the frame scaled so its long side is ``imgsz``.

    768x432 at 640 gives 640x384 rather than 640x640: 40 % fewer pixels to infer.
    """
    r = imgsz / max(frame_w, frame_h)
    w = int(np.ceil(round(frame_w * r) / stride) * stride)
    h = int(np.ceil(round(frame_h * r) / stride) * stride)
    return max(w, stride), max(h, stride)


def letterbox(
    frame: np.ndarray, width: int, height: int, out: np.ndarray | None = None
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and centre in a ``height`` x ``width`` canvas of grey."""
    fh, fw = frame.shape[:2]
    scale = min(width / fw, height / fh)
    nw, nh = round(fw * scale), round(fh * scale)
    pad_x, pad_y = (width - nw) / 2, (height - nh) / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas = out if out is not None else np.empty((height, width, 3), dtype=np.uint8)
    canvas[...] = PAD_VALUE
    resized = frame if (nw, nh) == (fw, fh) else cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas[top : top + nh, left : left + nw] = resized
    return canvas, Letterbox(scale, float(left), float(top), fw, fh)


def preprocess(frames: Sequence[np.ndarray], width: int, height: int) -> YoloBatch:
    """BGR frames to one (N, 3, H, W) float32 RGB tensor, each letterboxed to ``width`` x ``height``."""
    tensor = np.empty((len(frames), 3, height, width), dtype=np.float32)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    boxes = []
    for i, frame in enumerate(frames):
        img, lb = letterbox(frame, width, height, canvas)
        # BGR -> RGB, HWC -> CHW, uint8 -> [0, 1] in one pass
        np.multiply(img[:, :, ::-1].transpose(2, 0, 1), np.float32(1 / 255), out=tensor[i])
        boxes.append(lb)
    return YoloBatch(tensor, tuple(boxes))


@dataclass(frozen=True)
class InputPlan:
    """What network input a model takes and how frames become it, from its declared input shape.

    A static height and width are used as they are; a dynamic one letterboxes to ``imgsz`` (the smallest
    stride-32 rectangle with ``rect``, else a square). A fixed batch is padded with empty images.
    """

    static_size: tuple[int, int] | None  # (width, height)
    fixed_batch: bool
    max_batch: int
    imgsz: int
    rect: bool

    @classmethod
    def from_shape(cls, shape: Sequence[object], imgsz: int, rect: bool, max_batch: int) -> InputPlan:
        """``shape`` is the model's (batch, 3, height, width); a dimension that is not an int is dynamic."""
        batch_dim, _, h_dim, w_dim = shape
        static = (w_dim, h_dim) if isinstance(w_dim, int) and isinstance(h_dim, int) else None
        fixed = isinstance(batch_dim, int)
        return cls(static, fixed, batch_dim if isinstance(batch_dim, int) else max_batch, imgsz, rect)

    def input_size(self, frame_w: int, frame_h: int) -> tuple[int, int]:
        if self.static_size is not None:
            return self.static_size
        if self.rect:
            return rect_input_size(frame_w, frame_h, self.imgsz)
        return self.imgsz, self.imgsz

    def warm_up_size(self) -> tuple[int, int]:
        """The input a 16:9 camera will use, so that the first real frame does not pay for a new shape."""
        return self.static_size or self.input_size(16 * self.imgsz // 9, self.imgsz)

    def preprocess(self, frames: Sequence[np.ndarray]) -> YoloBatch:
        fh, fw = frames[0].shape[:2]
        w, h = self.input_size(fw, fh)
        batch = preprocess(frames, w, h)
        if self.fixed_batch and self.max_batch > len(frames):
            pad = np.zeros((self.max_batch - len(frames), *batch.tensor.shape[1:]), dtype=np.float32)
            batch = YoloBatch(np.concatenate([batch.tensor, pad]), batch.boxes)
        return batch


def check_output_layout(shape: Sequence[int | str | None], where: str) -> None:
    """Reject outputs that are not ``(batch, 4 + classes, anchors)``."""
    dims = list(shape)
    ok = len(dims) == 3
    if ok and isinstance(dims[1], int) and isinstance(dims[2], int):
        ok = 5 <= dims[1] < dims[2]
    elif ok and isinstance(dims[1], int):
        ok = dims[1] >= 5
    if not ok:
        raise ValueError(
            f"{where}: unexpected output shape {tuple(dims)}; expected (batch, 4+classes, anchors) "
            "as exported by Ultralytics YOLOv8/YOLO11 (e.g. (1, 84, 8400))"
        )


def postprocess(
    output: np.ndarray,
    boxes: Sequence[Letterbox],
    confidence: float,
    nms_iou: float,
    classes: Sequence[int],
) -> list[sv.Detections]:
    """Raw ``(N, 4+C, A)`` output to per-frame detections in original frame pixels.

    Like Ultralytics (single label per box): each anchor takes its best class, is
    kept when that class is wanted and its score reaches ``confidence``, then
    class-aware NMS.
    """
    wanted = np.asarray(classes, dtype=np.int64)
    result: list[sv.Detections] = []
    wanted_rows = 4 + wanted[wanted < output.shape[1] - 4]
    for b, lb in enumerate(boxes):
        # only anchors where a wanted class reaches the threshold can survive: skip the rest before the
        # argmax over every class (the same result, a hundredth of the work on a mostly empty frame)
        if not len(wanted_rows):
            result.append(sv.Detections.empty())
            continue
        cand = np.flatnonzero(output[b, wanted_rows].max(axis=0) >= confidence)
        if not len(cand):
            result.append(sv.Detections.empty())
            continue
        pred = output[b][:, cand]
        scores_all = pred[4:]
        class_id = scores_all.argmax(axis=0)
        score = scores_all[class_id, np.arange(pred.shape[1])]
        keep = (score >= confidence) & np.isin(class_id, wanted)
        if not keep.any():
            result.append(sv.Detections.empty())
            continue
        cx, cy, w, h = pred[:4, keep]
        score, class_id = score[keep].astype(np.float32), class_id[keep]
        x1, y1 = cx - w / 2, cy - h / 2
        picked = cv2.dnn.NMSBoxesBatched(
            # scores are already filtered (>= confidence); OpenCV's own threshold is strict (>), so pass one below
            np.stack([x1, y1, w, h], axis=1).tolist(),
            score.tolist(),
            class_id.tolist(),
            -1.0,
            nms_iou,
        )
        idx = np.asarray(picked, dtype=np.int64).reshape(-1)
        xyxy = np.stack([x1[idx], y1[idx], x1[idx] + w[idx], y1[idx] + h[idx]], axis=1)
        xyxy = (xyxy - [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]) / lb.scale
        np.clip(xyxy, 0, [lb.frame_w, lb.frame_h, lb.frame_w, lb.frame_h], out=xyxy)
        result.append(
            sv.Detections(xyxy=xyxy.astype(np.float32), confidence=score[idx], class_id=class_id[idx].astype(int))
        )
    return result
